"""The periodic table and chemical-formula parsing shared by every chapter.

Element symbols run from H (Z = 1) to Og (Z = 118); index ``Z - 1`` of :data:`SYMBOLS` is the
element with atomic number ``Z``. Formulas are parsed with pymatgen's
:class:`~pymatgen.core.composition.Composition` parser (brackets and fractional
amounts are understood), and every symbol is then checked against :data:`SYMBOLS`
so that pymatgen's dummy species (``X``, ``D``, ``T``, ...) are rejected instead of silently used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pymatgen.core.periodic_table import Element

#: The 118 element symbols, ``SYMBOLS[Z - 1]`` is element ``Z``.
SYMBOLS: tuple[str, ...] = tuple(Element.from_Z(z).symbol for z in range(1, 119))

_Z_OF: dict[str, int] = {s: i + 1 for i, s in enumerate(SYMBOLS)}

__all__ = ["SYMBOLS", "FormulaError", "atomic_number", "parse_formula", "check_symbol"]


class FormulaError(ValueError):
    """A chemical formula (or element symbol) that cannot be understood."""


def check_symbol(symbol: str, context: str = "") -> str:
    """Return ``symbol`` unchanged if it is one of the 118 element symbols.

    Parameters
    ----------
    symbol
        An element symbol such as ``"Fe"``; case matters (``"FE"`` is not accepted).
    context
        Text appended to the error message (for example ``" in formula 'Xx2O'"``).

    Raises
    ------
    FormulaError
        If ``symbol`` is not a string naming an element from H to Og.
    """
    if not isinstance(symbol, str) or symbol not in _Z_OF:
        hint = ""
        if isinstance(symbol, str) and symbol.capitalize() in _Z_OF:
            hint = f" (did you mean '{symbol.capitalize()}'? symbols are case-sensitive)"
        raise FormulaError(
            f"unknown element {symbol!r}{context}; expected a symbol from H to Og{hint}"
        )
    return symbol


def atomic_number(symbol: str) -> int:
    """Atomic number ``Z`` of an element symbol, e.g. ``atomic_number("O") == 8``."""
    return _Z_OF[check_symbol(symbol)]


_TOKEN = re.compile(r"[A-Z][a-z]*")


def parse_formula(formula: str | Mapping[str, float]) -> dict[str, float]:
    """Parse a chemical formula into ``{symbol: amount}``, in order of first appearance.

    Parameters
    ----------
    formula
        A formula string such as ``"Fe2O3"``, ``"Ca(OH)2"`` or ``"Li0.5CoO2"``, or a mapping
        ``{symbol: amount}`` that is validated and returned as a plain dict.

    Returns
    -------
    dict
        Element symbol to (unnormalised) amount, e.g. ``{"Fe": 2.0, "O": 3.0}``.

    Raises
    ------
    FormulaError
        For a malformed formula, an unknown element symbol, or a negative or zero total amount.
    """
    if isinstance(formula, Mapping):
        amounts = {}
        for sym, amt in formula.items():
            check_symbol(sym, f" in composition {dict(formula)!r}")
            amounts[sym] = float(amt)
    else:
        if not isinstance(formula, str) or not formula.strip():
            raise FormulaError(
                f"expected a chemical formula string such as 'Fe2O3', got {formula!r}"
            )
        for token in _TOKEN.findall(formula):
            check_symbol(token, f" in formula {formula!r}")
        from pymatgen.core.composition import Composition

        try:
            comp = Composition(formula)
        except Exception as exc:  # pymatgen raises several types for bad strings
            raise FormulaError(
                f"malformed formula {formula!r}: {exc}; write it like 'Fe2O3' or 'Ca(OH)2'"
            ) from None
        amounts = {}
        for el, amt in comp.items():
            sym = getattr(el, "symbol", str(el))
            check_symbol(sym, f" in formula {formula!r}")
            amounts[sym] = amounts.get(sym, 0.0) + float(amt)
    if any(v < 0 for v in amounts.values()):
        raise FormulaError(f"negative amount in {formula!r}; amounts must be >= 0")
    if not amounts or sum(amounts.values()) <= 0:
        raise FormulaError(f"formula {formula!r} contains no atoms")
    return amounts
