# SPDX-License-Identifier: MIT
"""Validate an XML policy against Xen's schema extended for moat's permissions (lxml/libxml2).

An element, attribute or namespace the schema does not know, or one in a place where the schema
does not allow it, is an error at its line: a misspelt ``<Conflct>`` or a wrong namespace URI
must never silently drop a rule. The schema (data/schema/, NOTE.md there) leaves to the checker
what it reports in its own words (missing sections, counts Xen 4.1 tolerated).
"""

from __future__ import annotations

import difflib
import functools
import re
from pathlib import Path
from typing import Any

from .model import Diagnostic

SCHEMA = Path(__file__).resolve().parent.parent / "data" / "schema" / "security_policy.xsd"
POLICY_NS = "http://www.ibm.com"
MOAT_NS = "urn:moat:policy:permissions:1"
_PREFIX = {POLICY_NS: "", MOAT_NS: "moat:"}

_QNAME = re.compile(r"\{([^}]*)\}([\w.-]+)")
_ERROR = re.compile(r"^Element '(?P<el>[^']+)'(?:, attribute '(?P<attr>[^']+)')?: (?P<text>.*)$", re.S)


@functools.cache
def _schema() -> Any:
    from lxml import etree  # imported on first use: `moat --help` must not pay for it

    return etree.XMLSchema(etree.parse(str(SCHEMA)))


@functools.cache
def _known_names() -> dict[str, set[str]]:
    """Every element name the schema declares, per namespace (for 'unknown' and 'did you mean')."""
    from lxml import etree

    names: dict[str, set[str]] = {}
    for path in SCHEMA.parent.glob("*.xsd"):
        doc = etree.parse(str(path)).getroot()
        ns = str(doc.get("targetNamespace", ""))
        for el in doc.iter("{http://www.w3.org/2001/XMLSchema}element"):
            name = el.get("name")
            if name:
                names.setdefault(ns, set()).add(str(name))
    return names


def _name(qname: str) -> str:
    """'{uri}local' as the policy would write it: Type, moat:Label, or {uri}local for others."""
    m = _QNAME.fullmatch(qname)
    if not m:
        return qname
    uri, local = m.groups()
    return f"{_PREFIX[uri]}{local}" if uri in _PREFIX else f"{{{uri}}}{local}"


def _names_in(text: str) -> str:
    return _QNAME.sub(lambda m: _name(m.group(0)), text)


def _explain(element: str, attr: str | None, text: str) -> str:
    """libxml2's message in the policy's own names, with a hint where the fix is known."""
    shown = _name(element)
    m = _QNAME.fullmatch(element)
    uri, local = m.groups() if m else ("", element)
    text = text.strip()
    if attr is not None:
        if "is not allowed" in text:
            return f"<{shown}>: unknown attribute {_name(attr)!r}"
        return f"<{shown}> attribute {_name(attr)!r}: {_names_in(text)}"
    if "No matching global declaration" in text:
        if uri == "":
            return (f"the root element <{shown}> has no namespace: "
                    f"write <{local} xmlns=\"{POLICY_NS}\">")
        return (f"the root element <{shown}> is in namespace {uri!r}; "
                f"a policy's is {POLICY_NS!r}")
    if "This element is not expected" in text:
        return _unexpected(uri, local, shown, text)
    return f"<{shown}>: {_names_in(text)}"


def _unexpected(uri: str, local: str, shown: str, text: str) -> str:
    expected = [_name("{%s}%s" % pair) for pair in _QNAME.findall(text)]
    known = _known_names()
    where = f"; expected {' or '.join(f'<{e}>' for e in expected)}" if expected else ""
    if uri not in known:
        hint = (f"unknown namespace {uri!r}: policy elements are in {POLICY_NS!r}, moat's "
                f"permissions in {MOAT_NS!r}") if uri else (
                f"no namespace: policy elements are in {POLICY_NS!r} (xmlns=...)")
        return f"element <{shown}>: {hint}"
    if local not in known[uri]:
        close = difflib.get_close_matches(local, sorted(known[uri]), n=1)
        if close and [f"{_PREFIX.get(uri, '')}{close[0]}"] == expected:
            return f"unknown element <{shown}> (did you mean <{expected[0]}>?)"
        mean = f" (did you mean <{_PREFIX.get(uri, '')}{close[0]}>?)" if close else ""
        return f"unknown element <{shown}>{mean}{where}"
    return f"element <{shown}> is not allowed here{where}"


def validate(root: Any, file: str) -> list[Diagnostic]:
    """Schema errors of a parsed document (lxml root element), one per problem, as diagnostics."""
    schema = _schema()
    if schema.validate(root.getroottree()):
        return []
    out = []
    for e in schema.error_log:
        m = _ERROR.match(e.message)
        msg = _explain(m["el"], m["attr"], m["text"]) if m else _names_in(e.message)
        out.append(Diagnostic(file, e.line or 1, msg))
    return out
