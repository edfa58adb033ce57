__version__ = "0.0.1"

# fastai.layers calls torch.jit.script at import, which torch >= 2.14 deprecates with a FutureWarning on every import of
# our package; nothing we can fix, so that one message is silenced (nbdev only rewrites the version line of this file).
import warnings as _warnings
_warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
