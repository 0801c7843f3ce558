"""Reading a saved fit's NetCDF file quickly: h5py straight into xarray, the same tree as xarray's.

``xarray.open_datatree(path, engine="h5netcdf")`` spends most of a saved fit's ``summary`` in
h5netcdf's per-variable dimension bookkeeping (0.2 s for the 37 variables of a 240-run fit on the
2-core machine, more than the rest of the command); reading the same HDF5 datasets with h5py and
naming their dimensions from their dimension-scale references takes 0.02 s.

:func:`read_netcdf` reads what this package writes (``to_netcdf(engine="h5netcdf")``: numbers,
booleans, variable-length strings, dimension coordinates, ``coordinates`` attributes, nested
groups) and gives the tree ``xr.open_datatree(path, engine="h5netcdf", mask_and_scale=False)``
gives once its ``_FillValue`` attributes are dropped: the same values, dtypes, dims, coordinates,
attributes and variable order (``tests/results/test_netcdf.py`` checks it). Anything else it meets
(time units, packed or unsigned integers, fixed-length or enum types, empty attributes, a file
h5py cannot open) makes it return None, and :func:`bayes_scaling.results.io.read_tree` opens the
file with xarray as before. No CF decoding beyond booleans is done here: there is none to do in a
file of ours.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

#: HDF5 attributes of the netCDF-4 layout, not user attributes (h5netcdf hides the same).
HIDDEN_ATTRS = frozenset(
    {
        "REFERENCE_LIST",
        "CLASS",
        "DIMENSION_LIST",
        "NAME",
        "_Netcdf4Dimid",
        "_Netcdf4Coordinates",
        "_nc3_strict",
        "_NCProperties",
        "_FillValue",  # read_tree drops it: every float of ours has NaN as its fill value
    }
)
#: Variable attributes that ask for a CF decoding this reader does not do: xarray reads the file.
DECODED_ATTRS = frozenset(
    {
        "units",
        "calendar",
        "_Unsigned",
        "_Encoding",
        "scale_factor",
        "add_offset",
        "missing_value",
        "compress",
        "valid_min",
        "valid_max",
        "valid_range",
    }
)
#: The NAME of a dimension scale that is a netCDF dimension without a variable.
PHONY = b"This is a netCDF dimension but not a netCDF variable"


class _Unsupported(Exception):
    """Something this reader does not decode exactly as xarray would."""


def read_netcdf(path: str | Path) -> xr.DataTree | None:
    """The DataTree of a NetCDF file written by this package, or None when it holds anything
    :mod:`this reader <bayes_scaling.results.netcdf>` does not decode (xarray then reads it).

    Examples
    --------
    >>> tree = read_netcdf("fit.nc")  # doctest: +SKIP
    >>> list(tree.children)  # doctest: +SKIP
    ['posterior', 'sample_stats', 'observed_data', 'constant_data', 'runs', 'discrepancy']
    """
    try:
        import h5py  # xarray's h5netcdf engine needs it too: installed wherever a fit is read
    except ImportError:  # pragma: no cover - xarray then says what is missing
        return None
    try:
        with h5py.File(path, "r") as file:
            nodes: dict[str, xr.Dataset] = {}
            _read_group(h5py, file, file, nodes)
    except (_Unsupported, OSError, KeyError, ValueError, TypeError, UnicodeDecodeError):
        return None
    return xr.DataTree.from_dict(nodes)


def _read_group(h5py, file, group, nodes: dict) -> None:
    """Add ``group`` (a Dataset) and its subgroups to ``nodes``, keyed by path."""
    data_vars, coords, listed = {}, {}, set()
    children = []
    for name, item in group.items():
        if isinstance(item, h5py.Group):
            children.append(item)
            continue
        if not isinstance(item, h5py.Dataset):
            raise _Unsupported(name)
        raw = item.attrs
        keys = list(raw)
        scale = "CLASS" in keys and raw["CLASS"] == b"DIMENSION_SCALE"
        if scale and "NAME" in keys and bytes(raw["NAME"]).startswith(PHONY):
            continue  # a dimension without a coordinate variable
        attrs = _attributes(h5py, raw, keys)
        if DECODED_ATTRS & attrs.keys():
            raise _Unsupported(name)
        values = _values(h5py, item)
        if attrs.get("dtype") == "bool":
            del attrs["dtype"]
            values = values.astype(bool)
        elif "dtype" in attrs:
            raise _Unsupported(name)
        if isinstance(attrs.get("coordinates"), str):
            listed.update(attrs.pop("coordinates").split())
        if scale:
            if item.ndim != 1:
                raise _Unsupported(name)
            coords[name] = xr.Variable((name,), values, attrs)
        else:
            data_vars[name] = xr.Variable(_dims(h5py, file, item, keys), values, attrs)
    group_attrs = _attributes(h5py, group.attrs, list(group.attrs))
    if isinstance(group_attrs.get("coordinates"), str):
        listed.update(group_attrs.pop("coordinates").split())
    for name in listed & data_vars.keys():
        coords[name] = data_vars.pop(name)
    path = group.name if group.name != "/" else "/"
    nodes[path] = xr.Dataset(data_vars, coords=coords, attrs=group_attrs)
    for child in children:
        _read_group(h5py, file, child, nodes)


def _dims(h5py, file, item, keys) -> tuple[str, ...]:
    """The dimension names of a variable: the names of its attached dimension scales."""
    if item.ndim == 0:
        return ()
    if "DIMENSION_LIST" not in keys:
        raise _Unsupported(item.name)
    refs = item.attrs["DIMENSION_LIST"]
    if len(refs) != item.ndim or any(len(axis) != 1 for axis in refs):
        raise _Unsupported(item.name)
    paths = (h5py.h5r.get_name(axis[0], file.id) for axis in refs)  # no object opened
    return tuple(path.decode("utf-8").rsplit("/", 1)[-1] for path in paths)


def _values(h5py, item) -> np.ndarray:
    """The variable's values: numbers and booleans as stored, variable-length strings as a
    numpy ``str`` array (what xarray's decoding gives); any other type is unsupported."""
    string = h5py.check_string_dtype(item.dtype)
    if string is not None:
        if string.length is not None:
            raise _Unsupported(item.name)
        return np.asarray(item.asstr()[()], dtype=object).astype(str)  # as xarray decodes
    if item.dtype.kind not in "fiub" or h5py.check_enum_dtype(item.dtype) is not None:
        raise _Unsupported(item.name)
    return np.asarray(item[()])


def _attributes(h5py, raw, keys) -> dict:
    """User attributes (of ``keys``, the names in ``raw``) as h5netcdf and xarray give them:
    fixed-length strings decoded, string arrays as lists, one-element arrays and lists as their
    element, bytes as ``str``."""
    out = {}
    for key in keys:
        if key in HIDDEN_ATTRS:
            continue
        value = raw[key]
        if isinstance(value, h5py.Empty):
            raise _Unsupported(key)
        string = h5py.check_string_dtype(raw.get_id(key).dtype)
        if string is not None:
            if string.length is not None and string.length > 1:
                if np.isscalar(value):
                    value = value.decode(string.encoding, "surrogateescape")
                else:
                    value = [b.decode(string.encoding, "surrogateescape") for b in value.flat]
            elif not np.isscalar(value):
                value = value.tolist()
        if isinstance(value, np.ndarray | list) and len(value) == 1:
            value = value[0]
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        out[key] = value
    return out
