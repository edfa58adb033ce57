"""Every registered model builds, runs forward on its registered example input, and backward.

Each model first runs on the meta device (shapes and the autograd graph, no arithmetic, so full-size configurations cost
nothing); a model whose forward costs at most `REAL_GFLOPS`, or that has an op without a meta kernel, also runs for real
on CPU, where the loss and every gradient must be finite and some gradient non-zero. On both devices every trainable
parameter must receive a gradient (a block built but left out of the forward fails), except those listed in
`UNUSED_BY_DESIGN`.

Models that run for real are also checked in evaluation mode, in float64 so that binary networks' signs do
not flip on rounding: each example's output does not depend on the other examples of its batch (a reshape or transpose
that mixes the batch fails), and a model built from another seed that loads the first one's saved state dict gives the
same outputs (state kept outside parameters and buffers fails); and a forward leaves the state dict as it was (a
batch norm that updates its statistics in evaluation mode fails), except as `EVAL_STATE_BY_DESIGN` lists."""
import fnmatch, functools, io, re, pytest, torch
from torch.utils.flop_counter import FlopCounterMode
from bulat_nb.models import list_models, create_model, example_input, model_cfg, register_model, _model_entrypoints

NAMES = list_models()
REAL_GFLOPS = 2.0  # forward cost of the example batch (2 inputs) up to which a model also runs for real

# Trainable parameters that the example forward of a model leaves alone by design: model-name pattern -> (regex over
# parameter names, why). A listed parameter that does receive a gradient fails too, so the list stays exact.
UNUSED_BY_DESIGN = {
    "bitmixer_mnist1d": (r"bns\.0\.bns\.fpto[23]\..*|bns\.[12]\.bns\.([23]to[234]|4to[23])\..*",
                         "one transitional BN per pair of bit-widths; the example runs at 4 bits"),
    "bitmixer_mnist1d_fp": (r"convs\.\d+\.(act|weight)_quant\.step",
                            "the full-precision network skips its quantisers (its topology is the mixed one's)"),
    "expert_bnn_mnist1d_n1": (r"blocks\.\d+\.conv\.fc\..*", "one expert: the gate (kept, as EBConv2d keeps it) has "
                                                             "nothing to choose"),
    "kd_adain_student": (r"connector\..*", "the connector maps student features for the distillation loss"),
    "srd_student": (r"connector\..*", "the connector maps student features for the distillation loss"),
    "xvit_*": (r"(model\.)?new_fc\..*", "the official head's name, kept for checkpoints; the temporal head is used"),
}

# State (parameters and buffers) that a forward in evaluation mode changes by design, likewise (and kept exact).
EVAL_STATE_BY_DESIGN = {
    "bitmixer_mnist1d": (r"convs\.\d+\.(act|weight)_quant\.(step|initialized)",
                         "LSQ sets its steps from the first batch a quantiser sees, in either mode"),
}
EVAL_STATE_BY_DESIGN["bitmixer_mnist1d_[sw]*"] = EVAL_STATE_BY_DESIGN["bitmixer_mnist1d"]


def _by_design(table: dict, name: str) -> str | None:
    "The regex that `table` (`UNUSED_BY_DESIGN` or `EVAL_STATE_BY_DESIGN`) gives model `name` (None: no entry)."
    hits = [v[0] for k, v in table.items() if fnmatch.fnmatchcase(name, k)]
    assert len(hits) <= 1, f"{name}: more than one pattern matches"
    return hits[0] if hits else None


def _tensors(out) -> list:
    "Every tensor in a model's output (a tensor, or nested tuples, lists and dicts of them)."
    if torch.is_tensor(out): return [out]
    if isinstance(out, dict): out = list(out.values())
    if isinstance(out, (tuple, list)): return [t for o in out for t in _tensors(o)]
    return []


def _has_example_input(name: str) -> bool:
    cfg = model_cfg(name)
    return "input_size" in cfg or "input_fn" in cfg


def _forward_backward(name: str, device: str, batch_size: int = 2) -> int:
    "Build `name` on `device`, run its example input forward and the sum of its outputs backward; return the forward FLOPs."
    torch.manual_seed(0)
    with torch.device(device):
        model = create_model(name)
        x = example_input(name, batch_size)
    counter = FlopCounterMode(display=False)
    with counter: outs = [o for o in _tensors(model(*(x if isinstance(x, tuple) else (x,)))) if o.is_floating_point()]
    assert outs, f"{name}: the forward returned no floating-point tensor"
    loss = sum(o.float().sum() for o in outs)
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert grads, f"{name}: the backward reached no parameter"
    unused = _by_design(UNUSED_BY_DESIGN, name)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    listed = {n for n in trainable if unused and re.fullmatch(unused, n)}
    missed = [n for n in trainable if n not in grads and n not in listed]
    assert not missed, f"{name}: no gradient reaches {len(missed)} trainable parameters: {', '.join(missed[:6])}"
    reached = sorted(listed & grads.keys())
    assert not reached, f"{name}: UNUSED_BY_DESIGN lists parameters that do get a gradient: {', '.join(reached[:6])}"
    if device == "cpu":
        assert torch.isfinite(loss), f"{name}: non-finite output"
        bad = [n for n, g in grads.items() if not torch.isfinite(g).all()]
        assert not bad, f"{name}: non-finite gradients in {bad}"
        assert any(g.abs().sum() > 0 for g in grads.values()), f"{name}: every gradient is zero"
    return counter.get_total_flops()


def test_every_registered_model_has_an_example_input():
    missing = [n for n in NAMES if not _has_example_input(n)]
    assert not missing, ("registered models without an example input (give @register_model input_size=... or "
                         f"input_fn=...): {', '.join(missing)}")


@functools.cache
def _meta_flops(name: str) -> int | None:
    "Forward FLOPs of `name`'s example batch, from its meta-device run (None: an op without a meta kernel)."
    try: return _forward_backward(name, "meta")
    except (NotImplementedError, RuntimeError) as e:   # an op without a meta kernel (`.item()`, `.tolist()`): run for real
        if "meta" not in str(e): raise
        return None


def _runs_for_real(name: str) -> bool:
    flops = _meta_flops(name)
    return flops is None or flops <= REAL_GFLOPS * 1e9


@pytest.mark.parametrize("name", NAMES)
def test_model_builds_forwards_backwards(name):
    if _runs_for_real(name): _forward_backward(name, "cpu")


def _outputs(model, xs: tuple, seed: int = 0) -> list:
    "The floating-point outputs of `model` on `xs`, the seed set first (a model that draws at test time draws alike)."
    torch.manual_seed(seed)
    with torch.no_grad(): return [o for o in _tensors(model(*xs)) if o.is_floating_point()]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / a.abs().max().clamp_min(1e-12)).item()


def _eval_checks(name: str, batch_size: int = 3):
    "Float64 evaluation-mode checks of `name`: state left alone, outputs per example independent of the batch, reload."
    torch.manual_seed(0); model = create_model(name).double().eval()
    torch.manual_seed(1); other = create_model(name).double().eval()
    x = example_input(name, batch_size)
    x = x if isinstance(x, tuple) else (x,)
    xs = tuple(t.double() if torch.is_tensor(t) and t.is_floating_point() else t for t in x)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    full = _outputs(model, xs)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(before[k], v)}
    allowed = _by_design(EVAL_STATE_BY_DESIGN, name)
    listed = {k for k in before if allowed and re.fullmatch(allowed, k)}
    assert not changed - listed, f"{name}: a forward in evaluation mode changed {', '.join(sorted(changed - listed))}"
    assert changed == listed, f"{name}: EVAL_STATE_BY_DESIGN lists unchanged state: {', '.join(sorted(listed - changed))}"
    rows = lambda t: t.shape[0] // batch_size if t.ndim and t.shape[0] % batch_size == 0 else 0  # rows per example
    pick = lambda t, i: t[i * rows(t):(i + 1) * rows(t)]     # example i (video models stack its frames in the batch)
    # an input shared by the batch (FS-DETR's templates) must not have a multiple of `batch_size` rows: it would be cut
    batched = [k for k, o in enumerate(full) if rows(o)]
    assert batched, f"{name}: no output has the batch as its first dimension"
    for i in range(batch_size):
        one = _outputs(model, tuple(pick(t, i) if torch.is_tensor(t) and rows(t) else t for t in xs))
        worst = max(_rel(pick(full[k], i), one[k]) for k in batched)
        assert worst < 1e-9, f"{name}: example {i}'s output changes with the rest of its batch (relative {worst:.1e})"
    assert max(_rel(a, b) for a, b in zip(full, _outputs(other, xs))) > 1e-6, f"{name}: two seeds give the same outputs"
    buf = io.BytesIO(); torch.save(model.state_dict(), buf); buf.seek(0)
    other.load_state_dict(torch.load(buf))
    worst = max(_rel(a, b) for a, b in zip(full, _outputs(other, xs)))
    assert worst < 1e-12, f"{name}: a model loaded from the state dict computes other outputs (relative {worst:.1e})"


@pytest.mark.parametrize("name", NAMES)
def test_model_eval_batch_independent_and_reloads(name):
    if not _runs_for_real(name): pytest.skip("too costly in float64: checked on the meta device only")
    _eval_checks(name)


def test_a_model_without_example_input_fails_by_name():
    @register_model
    def _model_without_input(): return torch.nn.Linear(2, 2)
    try:
        assert not _has_example_input("_model_without_input")
        with pytest.raises(ValueError, match="'_model_without_input' .*has no example input"):
            _forward_backward("_model_without_input", "meta")
    finally: _model_entrypoints.pop("_model_without_input")


def test_a_broken_backward_fails():
    "The check can fail: a model whose output is cut from its parameters is caught on both devices."
    @register_model(input_size=(2,))
    def _model_detached(): return torch.nn.Sequential(torch.nn.Linear(2, 2), _Detach())
    try:
        for device in ("meta", "cpu"):
            with pytest.raises(AssertionError, match="_model_detached: the backward reached no parameter"):
                _forward_backward("_model_detached", device)
    finally: _model_entrypoints.pop("_model_detached")


class _Detach(torch.nn.Module):
    def forward(self, x): return x.detach().requires_grad_()


def test_the_eval_checks_fail():
    """Caught: a model that mixes its batch; one whose output depends on a plain attribute a state dict leaves out;
    a batch norm that keeps training statistics in evaluation mode."""
    @register_model(input_size=(4,))
    def _model_mixing(): return torch.nn.Sequential(torch.nn.Linear(4, 4), _MixBatch())
    @register_model(input_size=(4,))
    def _model_unsaved(): return _Unsaved()
    @register_model(input_size=(4,))
    def _model_bn_in_train(): return torch.nn.Sequential(torch.nn.Linear(4, 4), _TrainBN(4))
    try:
        with pytest.raises(AssertionError, match="_model_mixing: example 0's output changes with the rest of its"):
            _eval_checks("_model_mixing")
        with pytest.raises(AssertionError, match="_model_unsaved: a model loaded from the state dict computes other"):
            _eval_checks("_model_unsaved")
        with pytest.raises(AssertionError, match="_model_bn_in_train: a forward in evaluation mode changed "
                                                 "1.num_batches_tracked, 1.running_mean, 1.running_var"):
            _eval_checks("_model_bn_in_train")
    finally:
        for k in ("_model_mixing", "_model_unsaved", "_model_bn_in_train"): _model_entrypoints.pop(k)


def test_a_parameter_left_out_of_the_forward_fails():
    "A layer built but not used is caught on both devices; so is an UNUSED_BY_DESIGN entry whose parameter is used."
    @register_model(input_size=(2,))
    def _model_unwired(): return _Unwired()
    try:
        for device in ("meta", "cpu"):
            with pytest.raises(AssertionError, match=r"_model_unwired: no gradient reaches 2 trainable parameters: "
                                                     r"skipped\.weight, skipped\.bias"):
                _forward_backward("_model_unwired", device)
        UNUSED_BY_DESIGN["_model_unwired"] = (r"(used|skipped)\..*", "a test's entry")
        with pytest.raises(AssertionError, match="_model_unwired: UNUSED_BY_DESIGN lists parameters that do get a "
                                                 "gradient: used.bias, used.weight"):
            _forward_backward("_model_unwired", "cpu")
    finally: _model_entrypoints.pop("_model_unwired"); UNUSED_BY_DESIGN.pop("_model_unwired", None)


class _MixBatch(torch.nn.Module):
    def forward(self, x): return x + x.mean(0, keepdim=True)


class _TrainBN(torch.nn.BatchNorm1d):
    def forward(self, x):   # training statistics whatever the mode, and a count of the batches
        self.num_batches_tracked.add_(1)
        return torch.nn.functional.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, True)


class _Unsaved(torch.nn.Module):
    def __init__(self):
        super().__init__(); self.lin = torch.nn.Linear(4, 4); self.scale = torch.rand(4)   # not a buffer
    def forward(self, x): return self.lin(x) * self.scale


class _Unwired(torch.nn.Module):
    def __init__(self):
        super().__init__(); self.used, self.skipped = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    def forward(self, x): return self.used(x)
