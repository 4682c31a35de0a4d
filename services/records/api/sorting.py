"""Sorts whose missing values come last in both directions.

A keyset page sorts on one expression (``Sort.expr``) and PostgreSQL reverses it for ``-field``,
so a missing value that sorts last ascending would come first descending. A field listed here
has a second expression for descending order, with its own index, in which the missing value
sorts before every real one (so after them once reversed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from services.records.api.common import ListParams


def nulls_last(params: ListParams, descending: Mapping[str, str]) -> ListParams:
    """``params`` with the descending expression of its field when it has one."""
    field = params.sort.removeprefix("-")
    if params.descending and field in descending:
        return dataclasses.replace(params, expr=descending[field])
    return params
