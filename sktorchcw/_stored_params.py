"""Parameters in model files: plain values as JSON, callables and network classes by name.

A model file stores an estimator's or a net's parameters as JSON
(:func:`_param_to_json`, :func:`_params_from_json`): plain values as
:func:`sktorchcw._safe_file.encode_value` codes them, criterion and optimizer by name,
a criterion instance by its class and constructor arguments, resolved at load only to
torch's own loss, functional and optimizer objects or sktorchcw's (checked before
anything is imported). A network of the user's own class (``module=MyNet``) is stored as
its class's names (:func:`module_record`); loading rebuilds it only from the classes its
caller passes (:func:`rebuild_module_class`) and never imports what a file names.
Shared by the estimators' files (:mod:`sktorchcw._persistence`) and the skorch nets'
(:mod:`sktorchcw._net_files`).
"""

import importlib
import inspect
from collections.abc import Iterable

import numpy as np
import torch

from ._model_file import _EDITED
from ._safe_file import decode_value, encode_value
from ._warnings import warn_at_caller
from ._weights import effective_number_weights

__all__ = ["module_record", "module_classes", "rebuild_module_class"]

_CALLABLE_PARAMS = ("criterion", "optimizer")
# Where a stored criterion or optimizer may come from, checked before anything is imported.
# A module of losses that sktorchcw adds goes into the criterion's list.
_CALLABLE_MODULES = {
    "criterion": ("torch.nn.modules.loss", "torch.nn.functional", "sktorchcw._loss"),
    "optimizer": ("torch.optim",),
}


# -- parameters -----------------------------------------------------------------------------


def _param_to_json(name, value, tensors):
    """JSON data of one parameter; a ValueError, with the fix, for a value a safe file
    cannot hold. The network class (``module=MyNet``) is stored by name
    (:func:`module_record`); its constructor arguments (``module__*``) as values."""
    if name == "module" and inspect.isclass(value):
        return {_CLASS_RECORD: module_record(value)}
    if name in _CALLABLE_PARAMS and not isinstance(value, torch.nn.Module):
        return {"callable": _callable_name(name, value)}
    if name == "criterion":
        return _criterion_to_json(value, tensors)
    if name == "random_state" and isinstance(value, np.random.RandomState):
        warn_at_caller("random_state, a RandomState instance, is saved as None.")
        return None
    if name == "class_weight" and isinstance(value, effective_number_weights):
        return value.to_json()  # {"effective_number_weights": beta}
    try:
        return encode_value(value, tensors, "params")
    except TypeError as error:
        network = (" It is an argument of your network's constructor, which a safe file "
                   "stores as a value, never as code: pass a plain value instead (a name "
                   "such as 'relu' that your constructor maps to a layer)."
                   if name.startswith("module__") else "")
        raise ValueError(
            f"Parameter {name}={value!r} cannot be stored in a safe model file ({error})."
            f"{network} Use plain values (numbers, strings, lists, tuples, dicts, arrays, "
            "tensors), or pickle/joblib (only for files you trust)."
        ) from None


def _callable_name(name, value):
    module = getattr(value, "__module__", "") or ""
    qualname = getattr(value, "__qualname__", "")
    if not (_from_allowed_module(name, module) and "<" not in qualname
            and _is_allowed_callable(name, value)):
        raise ValueError(
            f"save() stores {name} by name and accepts only "
            f"{_ALLOWED_DESCRIPTION[name]}; got {value!r}. Pass such a class (with its "
            f"arguments as {name}__*=...), or use pickle/joblib (only for files you trust)."
        )
    return f"{module}:{qualname}"


_ALLOWED_DESCRIPTION = {
    "criterion": "torch's own losses (a class such as nn.HuberLoss, an instance of one, or a "
                 "functional loss such as F.l1_loss) and sktorchcw's",
    "optimizer": "torch's own optimizers (classes from torch.optim)",
}


def _from_allowed_module(name, module_name):
    return any(module_name == allowed or module_name.startswith(allowed + ".")
               for allowed in _CALLABLE_MODULES[name])


def _is_allowed_callable(name, value):
    """A torch optimizer class, or a loss: a public nn.Module class named ``*Loss``, or a
    functional loss."""
    if name == "optimizer":
        return inspect.isclass(value) and issubclass(value, torch.optim.Optimizer)
    if inspect.isclass(value):
        return (issubclass(value, torch.nn.Module) and value.__name__.endswith("Loss")
                and not value.__name__.startswith("_"))
    functional = vars(torch.nn.functional)
    own_name = getattr(value, "__name__", "")
    return functional.get(own_name) is value and (
        own_name.endswith("_loss") or value in _functional_losses()
    )


def _functional_losses():
    from ._loss import _KNOWN_FORMATS

    return [known for known in _KNOWN_FORMATS if not inspect.isclass(known)]


def _criterion_to_json(criterion, tensors):
    """A loss instance as its class and the constructor arguments read back from it,
    checked to rebuild a loss of the same settings."""
    reference = _callable_name("criterion", type(criterion))
    own_tensors: dict = {}
    stored = {"instance": reference, "args": _constructor_arguments(criterion, own_tensors)}
    how_to = ("Pass the loss class with its arguments as criterion__*=..., or use "
              "pickle/joblib (only for files you trust).")
    try:
        rebuilt = _criterion_from_json("save", stored, own_tensors)
    except (TypeError, ValueError) as error:
        raise ValueError(f"criterion {criterion!r} cannot be saved: its class cannot be "
                         f"rebuilt from the arguments read back from it ({error}). {how_to}"
                         ) from None
    differences = _differences(_settings(criterion), _settings(rebuilt))
    if differences:
        raise ValueError(
            f"criterion {criterion!r} cannot be saved: rebuilt from the constructor arguments "
            f"that can be read back from it, it differs in {differences}. {how_to}"
        )
    tensors.update(own_tensors)
    return stored


def _constructor_arguments(criterion, tensors):
    """The instance's attributes named like its constructor's parameters, where a safe file
    can hold their values; the others are left to their defaults (the caller compares)."""
    arguments = {}
    for parameter in inspect.signature(type(criterion)).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        try:
            value = getattr(criterion, parameter.name)
        except AttributeError:  # such as size_average and reduce, folded into reduction
            continue
        try:
            arguments[parameter.name] = encode_value(value, tensors, "params.criterion")
        except TypeError:
            continue
    return arguments


def _criterion_from_json(name, stored, tensors):
    loss_class = _resolve_callable(name, "criterion", stored["instance"])
    if not inspect.isclass(loss_class) or not isinstance(stored["args"], dict):
        raise ValueError(f"{name}: criterion {stored['instance']!r} is not a loss class; "
                         "refused.")
    return loss_class(**{key: decode_value(value, tensors)
                         for key, value in stored["args"].items()})


def _settings(module):
    """What makes a loss behave as it does: its public attributes, buffers, parameters
    and submodules (``training`` aside)."""
    settings = {key: value for key, value in vars(module).items()
                if not key.startswith("_") and key != "training"}
    settings.update({f"buffer {key}": value for key, value in module._buffers.items()})
    settings.update({f"parameter {key}": value for key, value in module._parameters.items()})
    settings.update({f"module {key}": _settings(value)
                     for key, value in module._modules.items()})
    return settings


def _differences(first, second):
    return sorted(key for key in set(first) | set(second)
                  if key not in first or key not in second
                  or not _same(first[key], second[key]))


def _same(first, second):
    if first is second:
        return True
    if isinstance(first, torch.Tensor) or isinstance(second, torch.Tensor):
        return (isinstance(first, torch.Tensor) and isinstance(second, torch.Tensor)
                and first.dtype == second.dtype and first.shape == second.shape
                and torch.equal(first.detach().cpu(), second.detach().cpu()))
    if isinstance(first, dict) and isinstance(second, dict):
        return not _differences(first, second)
    try:
        return type(first) is type(second) and bool(first == second)
    except Exception:  # a comparison that does not give one truth value
        return False


def _params_from_json(name, params, tensors, estimator_class, modules=(), known=None):
    known = set(estimator_class._get_param_names() if known is None else known)
    # Routed names (with '__') are checked by the estimator, with the constructor's rules.
    unknown = sorted(key for key in params if key not in known and "__" not in key)
    if unknown:
        raise ValueError(f"{name} names parameters {estimator_class.__name__} does not have: "
                         f"{unknown}; refused.")
    decoded = {}
    for key, value in params.items():
        if isinstance(value, dict) and _CLASS_RECORD in value:
            if key != "module" or len(value) != 1:
                raise ValueError(f"{name}: parameter {key} holds a class record, which only "
                                 "the parameter module has; refused.")
            decoded[key] = rebuild_module_class(value[_CLASS_RECORD], modules,
                                                f"{name}: parameter module")
            continue
        stored_object = isinstance(value, dict) and ("callable" in value or "instance" in value)
        if stored_object and key not in _CALLABLE_PARAMS:
            raise ValueError(f"{name}: parameter {key} cannot be a stored callable; refused.")
        if stored_object and "callable" in value:
            decoded[key] = _resolve_callable(name, key, value["callable"])
        elif stored_object and key == "criterion":
            decoded[key] = _criterion_from_json(name, value, tensors)
        elif key == "class_weight" and isinstance(value, dict) and (
                "effective_number_weights" in value):
            try:
                decoded[key] = effective_number_weights.from_json(value)
            except ValueError as error:
                raise ValueError(f"{name}: parameter class_weight holds a value this sktorchcw "
                                 f"cannot read ({error}); refused.") from None
        else:
            try:
                decoded[key] = decode_value(value, tensors)
            except (ValueError, TypeError, KeyError) as error:
                raise ValueError(f"{name}: parameter {key} holds a value this sktorchcw "
                                 f"cannot read ({error}); refused.") from None
    return decoded


def _resolve_callable(name, param, reference):
    module_name, _, qualname = str(reference).partition(":")
    kind = "loss" if param == "criterion" else "optimizer"
    if not _from_allowed_module(param, module_name):
        raise ValueError(f"{name}: {param} {reference!r} is not one of "
                         f"{_ALLOWED_DESCRIPTION[param]}; refused.")
    try:
        value = importlib.import_module(module_name)
        for part in qualname.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError):
        raise ValueError(f"{name}: {param} {reference!r} does not exist in this "
                         "installation.") from None
    # Defined where the name says (not merely imported there), and of the right kind.
    defined_there = (getattr(value, "__module__", None) == module_name
                     and getattr(value, "__qualname__", None) == qualname)
    if not defined_there or not _is_allowed_callable(param, value):
        raise ValueError(f"{name}: {param} {reference!r} is not a torch {kind}; refused.")
    return value


# -- network classes, by name ---------------------------------------------------------------

# The one-key object under which a parameter holding a network class is stored.
_CLASS_RECORD = "module_class"


def module_record(module_class):
    """How a file names the class of a network: ``{"module": ..., "qualname": ...}``, the
    names of the class's module and the class in it, as strings.

    A reader rebuilds the class from these only with :func:`rebuild_module_class`, among
    classes its caller passes; nothing is stored that a reader would import. Any net
    whose ``module`` parameter is a class can store it so (its constructor arguments go
    with the other parameters, as values).

    Examples
    --------
    >>> from torch import nn
    >>> from sktorchcw._stored_params import (
    ...     module_classes, module_record, rebuild_module_class)
    >>> record = module_record(nn.GRU)
    >>> record
    {'module': 'torch.nn.modules.rnn', 'qualname': 'GRU'}
    >>> rebuild_module_class(record, module_classes([nn.LSTM, nn.GRU]), "model.sktorchcw")
    <class 'torch.nn.modules.rnn.GRU'>
    """
    if not (inspect.isclass(module_class) and issubclass(module_class, torch.nn.Module)):
        raise TypeError(f"module_record names nn.Module subclasses; got {module_class!r}.")
    return {"module": module_class.__module__, "qualname": module_class.__qualname__}


def module_classes(modules):
    """The classes given to ``load(path, modules=...)`` as a tuple, checked to be
    ``nn.Module`` subclasses (a TypeError, with the fix, for anything else: a name, an
    instance, a single class not in a list)."""
    if modules is None:
        return ()
    if inspect.isclass(modules) or isinstance(modules, (str, bytes, torch.nn.Module)) or (
            not isinstance(modules, Iterable)):
        raise TypeError(f"modules= takes a list of your network classes, such as "
                        f"modules=[MyNet]; got {modules!r}.")
    modules = tuple(modules)
    for item in modules:
        if inspect.isclass(item) and issubclass(item, torch.nn.Module):
            continue
        if isinstance(item, torch.nn.Module):
            fix = f"the class itself (modules=[{type(item).__name__}]), not an instance"
        elif isinstance(item, str):
            fix = ("the class itself, imported by you: load never imports a name, neither "
                   "one a file holds nor one passed to it")
        else:
            fix = "subclasses of torch.nn.Module"
        raise TypeError(f"modules= holds {item!r}, which is not a torch.nn.Module subclass; "
                        f"pass {fix}.")
    return modules


def rebuild_module_class(record, modules, where):
    """The class among ``modules`` (checked by :func:`module_classes`) that ``record``
    (from :func:`module_record`, read from a file) names: the one of that qualified name
    and module, or else the only one of that qualified name (a class moved to another
    module since). Nothing is imported and no attribute looked up by the file's names.

    A ValueError starting with ``where`` (the file and the entry) for a malformed record,
    a class not among ``modules`` (saying to pass ``modules=[ClassName]``, with the
    class's module), or several candidates.
    """
    if not isinstance(record, dict) or sorted(record) != ["module", "qualname"] or not all(
            isinstance(record[key], str) for key in record):
        raise ValueError(f"{where} does not name a network class as save writes it (a module "
                         f"and a qualified name); {_EDITED}.")
    module_name, qualname = record["module"], record["qualname"]
    if not (_is_dotted_name(module_name) and _is_dotted_name(qualname, nested=True)):
        raise ValueError(f"{where} names a network class by strings that are not Python "
                         f"names ({module_name[:80]!r}, {qualname[:80]!r}); {_EDITED}.")
    same_name = list(dict.fromkeys(item for item in modules if item.__qualname__ == qualname))
    exact = [item for item in same_name if item.__module__ == module_name]
    if len(exact) == 1 or (not exact and len(same_name) == 1):
        return (exact or same_name)[0]
    passed = [f"{item.__qualname__} (module {item.__module__})" for item in modules]
    if len(exact) > 1 or len(same_name) > 1:
        raise ValueError(f"{where} names the network class {qualname} of module {module_name}, "
                         f"and several classes passed in modules= have that name: {passed}. "
                         "Pass only the one the model was saved with.")
    raise ValueError(
        f"{where} names the network class {qualname} of module {module_name}, which is not "
        f"among the classes passed ({passed or 'none'}): pass modules=[{qualname}], the "
        f"class itself, which you import (from {module_name}, or wherever it lives now) and "
        "trust. load rebuilds a network of your own class only from the classes you pass, "
        "and never imports anything a file names."
    )


def _is_dotted_name(text, nested=False):
    """Identifiers joined by dots (a module's name), or for a class's qualified name also
    ``<locals>`` after the first (a class defined in a function)."""
    parts = text.split(".")
    return all(part.isidentifier() or (nested and index and part == "<locals>")
               for index, part in enumerate(parts))
