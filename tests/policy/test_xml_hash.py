# SPDX-License-Identifier: MIT
"""The text Xen hashed: libxml2's fast form must equal the streaming expat form whenever it is used.

The expat form is anchored to Xen 4.1's own hashes by the corpus (test_corpus.py: every binary
Xen wrote is reproduced byte for byte, s02 with CDATA and escapes through the expat form); here
random documents with the awkward parts (attributes in any order, namespace declarations,
escapes, character references, comments, CDATA, processing instructions) check that the fast
form either steps aside or agrees.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from moat.policy import xmldom

_NAMES = st.sampled_from(["a", "b", "Type", "moat:Label", "x-y", "n.1"])
_ATTR_NAMES = st.sampled_from(["name", "from", "b", "a", "xmlns:q", "moat:p", "zz"])
_CHARS = st.sampled_from(["x", " ", "\n", "\t", "&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "'", '"', ">",
                          "&#65;", "&#10;", "&#x9;", "&#13;", "]"])


# Each strategy is made once: hypothesis builds and validates a strategy anew at every
# st.sampled_from(...) or st.lists(...) call, which drawing 400 documents did thousands of times.
_PARTS = st.lists(_CHARS, max_size=6)
_ATTR_LISTS = st.lists(_ATTR_NAMES, max_size=4, unique=True)
_QUOTES = st.sampled_from(['"', "'"])
_KIDS = [st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), st.integers(0, 0)]  # by depth
_KINDS = st.sampled_from(["text", "element", "comment", "cdata", "pi", "space"])
_COMMENTS = st.sampled_from(["", " c ", "a<b c=1 d=2>", "-x"])
_CDATA = st.sampled_from(["", "a<b>&", " ", "q"])
_PIS = st.sampled_from(["", " d", "  e f"])
_SPACES = st.sampled_from(["", " ", "\n  "])
_DECLS = st.sampled_from(["", '<?xml version="1.0"?>\n', '<?xml version="1.0" encoding="UTF-8"?>'])
_BEFORE = st.sampled_from(["", "<!-- top -->\n", "\n<!--a--><!--b-->"])
_AFTER = st.sampled_from(["", "\n<!-- end -->", "\n"])


def _text(draw: st.DrawFn, quote: str | None = None) -> str:
    parts = draw(_PARTS)
    out = "".join(parts)
    if quote is not None:
        out = out.replace(quote, "")
    return out.replace("<", "")


@st.composite
def _element(draw: st.DrawFn, depth: int = 0) -> str:
    name = draw(_NAMES)
    attrs = draw(_ATTR_LISTS)
    tag = name
    for a in attrs:
        q = draw(_QUOTES)
        value = _text(draw, quote=q)
        if a == "xmlns:q":
            value = "urn:q"
        tag += f" {a}={q}{value}{q}"
    kids = []
    for _ in range(draw(_KIDS[depth])):
        kind = draw(_KINDS)
        if kind == "text":
            kids.append(_text(draw))
        elif kind == "element":
            kids.append(draw(_ELEMENTS[depth + 1]))
        elif kind == "comment":
            kids.append(f"<!--{draw(_COMMENTS)}-->")
        elif kind == "cdata":
            kids.append(f"<![CDATA[{draw(_CDATA)}]]>")
        elif kind == "pi":
            kids.append(f"<?t{draw(_PIS)}?>")
        else:
            kids.append(draw(_SPACES))
    close = draw(st.booleans())
    if not kids and close:
        return f"<{tag}/>"
    return f"<{tag}>{''.join(kids)}</{name}>"


_ELEMENTS = [_element(depth) for depth in range(4)]  # an element at each depth, children below it


@st.composite
def _document(draw: st.DrawFn) -> bytes:
    decl = draw(_DECLS)
    before = draw(_BEFORE)
    after = draw(_AFTER)
    root = draw(_ELEMENTS[0])
    ns = ' xmlns:moat="urn:m" xmlns="urn:d"'
    root = root.replace(">", ns + ">", 1) if not root.endswith("/>") or root.count("<") > 1 else root[:-2] + ns + "/>"
    return (decl + before + root + after).encode()


@settings(max_examples=400, deadline=None)
@given(_document())
def test_fast_form_agrees_with_expat(data: bytes) -> None:
    try:
        doc = xmldom.parse(data)
    except xmldom.XmlSyntaxError:
        return  # generated something that is not well-formed (e.g. a duplicate attribute)
    fast = xmldom._libxml2_canonical(doc.root, data)
    if fast is not None:
        assert fast == xmldom.expat_canonical(data)


def test_fast_form_is_taken_for_plain_policies() -> None:
    data = (b'<?xml version="1.0"?>\n<!-- c -->\n<R xmlns="urn:d" b="2" a="1">\n  <T n="x">a &amp; b &gt; c</T>'
            b"<E></E><F/>\n</R>\n")
    doc = xmldom.parse(data)
    fast = xmldom._libxml2_canonical(doc.root, data)
    assert fast == ('<?xml version="1.0" ?><!-- c --><R a="1" b="2" xmlns="urn:d">\n  <T n="x">a &amp; b &gt; c</T>'
                    "<E/><F/>\n</R>")
    assert fast == xmldom.expat_canonical(data)
