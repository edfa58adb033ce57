"""Every registered model builds, runs forward on its registered example input, and backward.

Each model first runs on the meta device (shapes and the autograd graph, no arithmetic, so full-size configurations cost
nothing); a model whose forward costs at most `REAL_GFLOPS`, or that has an op without a meta kernel, also runs for real
on CPU, where the loss and every gradient must be finite and some gradient non-zero."""
import pytest, torch
from torch.utils.flop_counter import FlopCounterMode
from bulat_nb.models import list_models, create_model, example_input, model_cfg, register_model, _model_entrypoints

NAMES = list_models()
REAL_GFLOPS = 2.0  # forward cost of the example batch (2 inputs) up to which a model also runs for real


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


@pytest.mark.parametrize("name", NAMES)
def test_model_builds_forwards_backwards(name):
    try: flops = _forward_backward(name, "meta")
    except (NotImplementedError, RuntimeError) as e:   # an op without a meta kernel (`.item()`, `.tolist()`): run for real
        if "meta" not in str(e): raise
        flops = None
    if flops is None or flops <= REAL_GFLOPS * 1e9: _forward_backward(name, "cpu")


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
