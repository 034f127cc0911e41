"""QIDO-RS (PS3.18 §10.6): search studies, series and instances the user may see.

Matching keys, return keys and levels are listed in ``KEYS`` and in
docs/dicomweb.md. Every search starts from ``case_list_for_user``: another
site's studies are never matched. A page costs a constant number of queries:
one for the rows (parents joined, counts as subqueries) and, when Modalities in
Study is returned, one for the page's series modalities.
"""

from dicomweb.qido.answer import (
    Urls,
    dataset_of,
    datasets_of,
    header_attributes,
    needs_modalities,
    returned_keys,
)
from dicomweb.qido.keys import KEY_BY_TAG, KEYS, LEVELS, RETRIEVE_URL, Key, Level
from dicomweb.qido.search import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    QueryError,
    Search,
    fixed_levels,
    key_condition,
    match_count,
    modalities_of,
    page_of,
    parse_search,
    search_queryset,
)

__all__ = [
    "DEFAULT_LIMIT",
    "KEYS",
    "KEY_BY_TAG",
    "LEVELS",
    "MAX_LIMIT",
    "RETRIEVE_URL",
    "Key",
    "Level",
    "QueryError",
    "Search",
    "Urls",
    "dataset_of",
    "datasets_of",
    "fixed_levels",
    "header_attributes",
    "key_condition",
    "match_count",
    "modalities_of",
    "needs_modalities",
    "page_of",
    "parse_search",
    "returned_keys",
    "search_queryset",
]
