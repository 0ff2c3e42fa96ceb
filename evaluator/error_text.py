"""Typed facts of a refusal, and the one function per code that turns them into a sentence.

A refusal (:class:`~evaluator.errors.EaselError`) may carry ``facts``: a small
mapping of typed values its producer knows (which input, which dimension,
expected, got). Each code that has facts declares them here with the kind of
each value, next to the function that renders them; the producer's facts are
checked against that declaration when the error is made (a wrong fact is a bug
in Easel), and again when a result.json or a sandbox frame is read (there they
are untrusted).

Rendered sentences follow the fixed-sentence convention of errors.py: words
of ours, with `backticked` parts shown as code. A fact's value can hold no
backtick (names pass the identifier allowlist, everything else is a number),
so a rendered sentence is as safe to show as the fixed ones.

Kinds: ``int``, ``float``, ``bool``, ``name`` (an allowlisted identifier, see
errors.py), ``shape`` (a list of at most 8 ints or None, None = dynamic) and
``value`` (any of int, name, shape). A kind ending in ``?`` is optional.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Mapping

_NAME = re.compile(r"^[A-Za-z0-9_.:/\[\]-]{1,120}$")  # the same allowlist as errors._IDENTIFIER
_FACT_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_FACTS = 12
MAX_DIMS = 8
KINDS = ("int", "float", "bool", "name", "shape", "value")


@dataclass(frozen=True)
class Renderer:
    """How one code's facts read: their kinds, the sentence, and the hint when it depends on them."""

    code: str
    facts: Mapping[str, str]                        # fact name -> kind ("int", "shape?", ...)
    sentence: Callable[[dict], str]                 # facts -> words (backticks = code)
    hint: Callable[[dict], str | None] | None = None  # facts -> fix hint; None = the code's fixed hint


RENDERERS: dict[str, Renderer] = {}


def renders(code: str, hint: Callable[[dict], str | None] | None = None, **facts: str):
    """Register the decorated ``sentence(facts) -> str`` for ``code`` with its facts' kinds."""
    for name, kind in facts.items():
        assert _FACT_KEY.match(name) and kind.rstrip("?") in KINDS, (code, name, kind)

    def register(sentence: Callable[[dict], str]) -> Callable[[dict], str]:
        assert code not in RENDERERS, code
        RENDERERS[code] = Renderer(code, dict(facts), sentence, hint)
        return sentence
    return register


# --- checking facts ---------------------------------------------------------------

def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 1 << 63


def _of_kind(value: object, kind: str) -> bool:
    if kind == "int":
        return _is_int(value)
    if kind == "float":
        return (_is_int(value) or isinstance(value, float)) and not isinstance(value, bool) \
            and math.isfinite(value)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "name":
        return isinstance(value, str) and bool(_NAME.match(value))
    if kind == "shape":
        return isinstance(value, list) and len(value) <= MAX_DIMS \
            and all(d is None or (_is_int(d) and d >= 0) for d in value)
    if kind == "value":
        return any(_of_kind(value, k) for k in ("int", "name", "shape"))
    return False


def is_name(value: object) -> bool:
    """Whether ``value`` may be a ``name`` fact (an allowlisted identifier)."""
    return _of_kind(value, "name")


def fact_problem(code: str, facts: object) -> str | None:
    """Why ``facts`` are not valid facts of ``code`` (a short reason), or None when they are.

    Valid: a mapping whose keys are the code's declared facts, each of its
    declared kind, every required one present. A code with no declared facts
    takes none.
    """
    if not isinstance(facts, dict):
        return "facts are not a mapping"
    if not facts:  # no facts at all: the code's fixed sentence and hint stand alone
        return None
    declared = RENDERERS[code].facts if code in RENDERERS else {}
    if len(facts) > MAX_FACTS:
        return "too many facts"
    for key, value in facts.items():
        if key not in declared:
            return f"{key!s:.40} is not a fact of {code}"
        if not _of_kind(value, declared[key].rstrip("?")):
            return f"{key} is not of kind {declared[key].rstrip('?')}"
    for key, kind in declared.items():
        if not kind.endswith("?") and key not in facts:
            return f"{key} is missing"
    return None


def clean_facts(code: str, facts: object) -> dict:
    """Untrusted facts (a sandbox frame): the facts themselves when valid for ``code``, else ``{}``."""
    if code not in RENDERERS or fact_problem(code, facts) is not None:
        return {}
    return {key: (list(value) if isinstance(value, list) else value) for key, value in facts.items()}


# --- rendering ----------------------------------------------------------------------

def shape_text(shape: list, batch_as_n: bool = False) -> str:
    """``[N, 128, 128, 3]``: a shape as words; None (dynamic) reads None, the batch N if asked."""
    dims = ["None" if d is None else str(d) for d in shape]
    if batch_as_n and dims:
        dims[0] = "N"
    return "[" + ", ".join(dims) + "]"


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.1f} MB"


def _input(facts: dict) -> str:
    return f"input {facts['input']}" if "input" in facts else "an input"


def sentence(code: str, facts: object) -> str:
    """The words for ``code``'s facts; ``""`` when the code has no renderer or the facts are not valid."""
    renderer = RENDERERS.get(code)
    if renderer is None or not facts or fact_problem(code, facts) is not None:
        return ""
    return renderer.sentence(dict(facts))


def hint(code: str, facts: object, fixed: str) -> str:
    """The fix hint for ``code`` given its facts; ``fixed`` (the code's own hint) when the facts add nothing."""
    renderer = RENDERERS.get(code)
    if renderer is None or renderer.hint is None or not facts or fact_problem(code, facts) is not None:
        return fixed
    return renderer.hint(dict(facts)) or fixed


# --- the model's signature ------------------------------------------------------------

def _signature_hint(facts: dict) -> str | None:
    dimension = facts["dimension"]
    if dimension == "dtype":
        return "Export the model with float32 inputs and cast inside it (float16 weights may stay float16)."
    if dimension == "size":
        return ("Export the model with height and width None (any size), or fixed at the track's image_size: "
                "batch_shape=(None, None, None, 3) in Keras, tf.TensorSpec([None, None, None, 3]) for a SavedModel, "
                "dynamic_axes for height and width in torch.onnx.export.")
    if dimension == "inputs":
        return ("Give the model one image input, or two (content, then style) on example tracks; "
                "fold any other input into the model as a constant.")
    if dimension == "outputs":
        return "Return one output, the image batch; drop extra outputs before exporting."
    if dimension == "input_names":
        return "Name the SavedModel signature's inputs content and style (tf.TensorSpec(..., name='content'))."
    if dimension in ("rank", "channels"):
        return "Take a batch of RGB images: float32 [N, H, W, 3] (NHWC) in [-1, 1]."
    return None


@renders("E_SIGNATURE", hint=_signature_hint, dimension="name", input="int?", expected="value?", got="value?")
def _signature(facts: dict) -> str:
    dimension, got, expected = facts["dimension"], facts.get("got"), facts.get("expected")
    if dimension == "rank" and got is not None:
        return f"{_input(facts)} has rank {got}; the contract is rank 4, [N, H, W, 3]"
    if dimension == "channels" and got is not None:
        return f"{_input(facts)} takes {got} channels last; the contract is 3 (RGB)"
    if dimension == "size" and got is not None:
        return f"{_input(facts)} is fixed at {got} px; this track feeds {expected} px images"
    if dimension == "dtype" and got is not None:
        return f"{_input(facts)} is `{got}`; the contract is `float32`"
    if dimension == "inputs" and got is not None:
        wanted = f"; this track feeds {expected}" if expected is not None else ""
        return f"the model has {got} inputs{wanted}"
    if dimension == "outputs" and got is not None:
        return f"the model has {got} outputs; the contract is 1"
    if dimension == "input_names":
        return "a two-input model must name its inputs `content` and `style`"
    if dimension == "unreadable":
        return "the model's input shapes could not be read"
    return f"{_input(facts)} differs from the contract in its {dimension}"


@renders("E_SIGNATURE_LAYOUT", input="int", got="shape")
def _signature_layout(facts: dict) -> str:
    return (f"input {facts['input']} has shape {shape_text(facts['got'])}, channels first; "
            "expected [None, H, W, 3]")


@renders("E_SIGNATURE_BATCH", input="int", got="int")
def _signature_batch(facts: dict) -> str:
    return f"input {facts['input']} has its batch fixed at {facts['got']}; expected None (dynamic)"


# --- the model's outputs ------------------------------------------------------------

@renders("E_PRED_SHAPE", expected="shape", got="shape?", got_bytes="int?", limit_bytes="int?")
def _pred_shape(facts: dict) -> str:
    expected = facts["expected"]
    got = facts.get("got")
    if got is not None:
        same_batch = bool(got) and bool(expected) and got[0] == expected[0]
        text = f"got {shape_text(got, same_batch)}, expected {shape_text(expected, same_batch)}"
        if "got_bytes" in facts:
            text += f" ({_mb(facts['got_bytes'])} of output)"
        return text
    if "got_bytes" in facts:
        return (f"the output holds {_mb(facts['got_bytes'])}, far more than a float32 batch of shape "
                f"{shape_text(expected, True)}")
    return f"expected {shape_text(expected, True)}"


@renders("E_PRED_DTYPE", got="name")
def _pred_dtype(facts: dict) -> str:
    return f"the output is `{facts['got']}`, expected `float32`"


@renders("E_PRED_NONFINITE", kind="name", count="int")
def _pred_nonfinite(facts: dict) -> str:
    return f"{facts['count']} output values are non-finite (first kind found: `{facts['kind']}`)"


@renders("E_PRED_RANGE", low="float", high="float")
def _pred_range(facts: dict) -> str:
    return f"outputs span [{facts['low']:.4g}, {facts['high']:.4g}], expected [-1, 1]"


# --- the submission's files -------------------------------------------------------

def _size_hint(facts: dict) -> str | None:
    if "url_allowed" not in facts:
        return None
    smaller = ("Store the weights as float16 (half the bytes; inputs and outputs stay float32), or use fewer "
               "channels or blocks")
    if facts["url_allowed"]:
        return smaller + (", or host the model file on an allowed host (limits.model_url_hosts) with model.url "
                          "and its sha256.")
    return smaller + "; this competition does not accept models by URL."


@renders("E_SIZE", hint=_size_hint, got_bytes="int", limit_bytes="int", url_allowed="bool?")
def _size(facts: dict) -> str:
    return f"{_mb(facts['got_bytes'])}, the limit is {_mb(facts['limit_bytes'])}"


def _meta_dir_hint(facts: dict) -> str:
    return (f"Move the files to {facts['expected']}/, or change team and name in submission.yaml to match "
            f"{facts['got']}/.")


@renders("E_META_DIR", hint=_meta_dir_hint, expected="name", got="name")
def _meta_dir(facts: dict) -> str:
    return f"submission.yaml names `{facts['expected']}/`, the folder is `{facts['got']}/`"


# --- Keras archives -------------------------------------------------------------------

# What a refused object in a layer's config is, as config.json shows it.
KERAS_FOUND = ("layer", "initializer", "regularizer", "constraint", "activation", "object")


def _keras_hint(facts: dict) -> str:
    found, origin, cls = facts["found"], facts["origin"], facts["object_class"]
    if found == "layer" and origin == "keras":
        return (f"{cls} is not on Easel's list of Keras layers (it could run code or read files): build the "
                "model from the listed layers, or export it as a SavedModel (tf.saved_model.save(model, path)), "
                "whose graph is checked op by op instead.")
    if found == "layer":
        return (f"{cls} is not a built-in Keras layer: rebuild it from built-in layers, or export the model as a "
                "SavedModel (tf.saved_model.save(model, path)), whose graph is checked op by op instead.")
    if found in ("initializer", "regularizer", "constraint"):
        where = f"keras.{found}s"
        if origin == "tensorflow":
            return (f"Use the {where} equivalent (e.g. keras.initializers.RandomNormal(0.0, 0.02) for "
                    "tf.random_normal_initializer(0.0, 0.02)), or export the model as a SavedModel.")
        return (f"Use a class from {where} in layer {facts['layer']} (it never runs at inference, so a built-in "
                "one changes nothing there), or export the model as a SavedModel.")
    if found == "activation":
        return "Use an activation from keras.activations (by name, e.g. activation='tanh'), or a built-in layer."
    return "Use built-in Keras objects only, or export the model as a SavedModel."


@renders("E_KERAS_LAYER", hint=_keras_hint, layer="name?", layer_class="name?", found="name",
         object_class="name", origin="name")
def _keras_layer(facts: dict) -> str:
    found, cls = facts["found"], facts["object_class"]
    origin = {"tensorflow": "TensorFlow's", "custom": "a custom", "keras": "a Keras", "unknown": "an unknown"}.get(
        facts["origin"], "an unknown")
    what = f"{origin} {found} `{cls}`" if found != "layer" else f"{origin} layer class `{cls}`"
    if "layer" in facts and found != "layer":
        holder = f" ({facts['layer_class']})" if "layer_class" in facts else ""
        return f"layer `{facts['layer']}`{holder} uses {what}"
    if "layer" in facts:
        return f"layer `{facts['layer']}` is {what}"
    return f"the model uses {what}"


@renders("E_ZIP_BOMB", members="int?", limit="int?", member="name?")
def _zip_bomb(facts: dict) -> str:
    if "members" in facts:
        return f"the archive has {facts['members']} members, at most {facts.get('limit', 'a few')} allowed"
    if "member" in facts:
        return f"in `{facts['member']}`"
    return ""


# --- data ---------------------------------------------------------------------------

def _data_too_small_hint(facts: dict) -> str:
    return (f"Add at least {facts['minimum'] - facts['count']} more image(s) to the {facts['split']} split of "
            f"{facts['folder']} (rebuild with `easel data prepare` from more images, or with a larger "
            "--test-fraction), or lower min_test_images for the track in competition.yaml.")


@renders("E_DATA_TOO_SMALL", hint=_data_too_small_hint, folder="name", split="name", count="int", minimum="int")
def _data_too_small(facts: dict) -> str:
    return (f"`{facts['folder']}` has {facts['count']} {facts['split']} image(s), the track's minimum is "
            f"{facts['minimum']}")


# --- sandbox limits ---------------------------------------------------------------------

@renders("E_TIMEOUT", limit_s="float?")
def _timeout(facts: dict) -> str:
    return f"no answer within {facts['limit_s']:g} s" if "limit_s" in facts else ""


@renders("E_OOM", used_mb="int?", limit_mb="int?")
def _oom(facts: dict) -> str:
    if "used_mb" in facts and "limit_mb" in facts:
        return f"{facts['used_mb']} MiB used, the limit is {facts['limit_mb']} MiB"
    return ""
