# SPDX-License-Identifier: MIT
"""An XML policy parsed once (lxml, that is libxml2, in C): the tree, and the text Xen hashed.

Xen 4.1's compiler stores ``sha1(dom.toxml())`` of the *parsed* policy in the binary header:
Python 2.7's minidom ``toxml()``, whose node boundaries are those of Python 2's ``expatbuilder``
(adjacent character data merged, each CDATA section its own node, comments and processing
instructions kept, whitespace outside the root dropped, ``<name/>`` for an element without child
nodes, attributes and namespace declarations sorted by name, ``& < " >`` escaped in text and
attributes). ``canonical()`` gives that text: from libxml2's own serialization where the two
provably agree (no CDATA section, character reference or processing instruction, no ``"`` in
text; start tags with several attributes re-sorted), else by a streaming expat pass that writes
minidom's form directly. Nothing is built twice and no Python object is made per text node.

The helpers below read an element the way Xen's code read the minidom tree
(``childNodes[0].nodeValue``, the number of child nodes); ``exact=True`` (a document with CDATA
sections, where libxml2 merges text and CDATA in ``.text``) asks libxml2 for the nodes one by one.
Lines are libxml2's: the line on which an element's start tag ends.
"""

from __future__ import annotations

import re
import xml.parsers.expat
from dataclasses import dataclass
from typing import Any

from lxml import etree

_NODES: Any = etree.XPath("node()")
_QUOTE_IN_TEXT = etree.XPath("boolean(//text()[contains(., '\"')])")
_TAG_IN_COMMENT = etree.XPath("boolean(//comment()[contains(., '<')])")
# A start tag with two or more attributes in libxml2's output (one space before each, values in
# double quotes with '"' escaped): its attributes must be sorted the way minidom wrote them.
_MULTI_ATTR = re.compile(r'<([^\s/>!?]+)((?: [^\s="]+="[^"]*"){2,})(/?)>')
_ATTR = re.compile(r' ([^\s="]+)="([^"]*)"')


class XmlSyntaxError(Exception):
    """The document is not well-formed XML (or uses a feature we refuse)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class Document:
    root: Any  # lxml.etree._Element
    data: bytes
    exact: bool  # CDATA sections: read child nodes one by one (first_child_value, child_count)

    def canonical(self) -> str:
        """Python 2.7 minidom ``toxml()`` of the parsed document."""
        fast = _libxml2_canonical(self.root, self.data)
        return fast if fast is not None else expat_canonical(self.data)


def parse(data: bytes) -> Document:
    """Parse a document; XmlSyntaxError (with its line) when it is not well-formed or has a DTD."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, strip_cdata=False,
                             remove_blank_text=False, load_dtd=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as e:
        message = re.sub(r", line \d+, column \d+$", "", e.msg or "not well-formed")
        raise XmlSyntaxError(e.lineno or 1, message) from None
    if root is None:
        raise XmlSyntaxError(1, "no root element")
    docinfo: Any = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        line = data[: max(data.find(b"<!DOCTYPE"), 0)].count(b"\n") + 1
        raise XmlSyntaxError(line, "DOCTYPE declarations are not supported in policies")
    return Document(root, data, b"<![CDATA[" in data)


# ----------------------------------------------------------------------------- reading elements


def local(el: Any) -> str:
    tag = str(el.tag)
    return tag[tag.index("}") + 1 :] if tag[:1] == "{" else tag


def qname(el: Any) -> str:
    """The element's name as written (prefix:local)."""
    return f"{el.prefix}:{local(el)}" if el.prefix else local(el)


def namespace(el: Any) -> str:
    tag = str(el.tag)
    return tag[1 : tag.index("}")] if tag[:1] == "{" else ""


def children(el: Any, name: str, ns: str | None = None) -> list[Any]:
    """Child elements called name, in namespace ns (the parent's when None)."""
    tag = _tag(el, name, ns)
    return [c for c in el if c.tag == tag]


def first(el: Any, name: str, ns: str | None = None) -> Any:
    tag = _tag(el, name, ns)
    for c in el:
        if c.tag == tag:
            return c
    return None


def _tag(el: Any, name: str, ns: str | None) -> str:
    """lxml's '{ns}name' (plain name for no namespace); ns None: the namespace of el itself."""
    if ns is None:
        parent = str(el.tag)
        if parent[:1] != "{":
            return name
        return parent[: parent.index("}") + 1] + name
    return f"{{{ns}}}{name}" if ns else name


def _node_value(node: Any) -> str | None:
    if isinstance(node, str):
        return str(node)
    if isinstance(node, etree._Comment | etree._ProcessingInstruction):
        return str(node.text or "")
    return None  # an element


def first_child_value(el: Any, exact: bool) -> str | None:
    """minidom's ``childNodes[0].nodeValue``: its text or data; None for an element or no child."""
    if exact:
        nodes = _NODES(el)
        return _node_value(nodes[0]) if nodes else None
    if el.text:
        return str(el.text)
    return _node_value(el[0]) if len(el) else None


def child_count(el: Any, exact: bool) -> int:
    """How many child nodes minidom saw (text runs, CDATA sections, comments, PIs, elements)."""
    if exact:
        return len(_NODES(el))
    count = 1 if el.text else 0
    if len(el):
        count += sum(2 if c.tail else 1 for c in el)
    return count


def text(el: Any) -> str:
    """The element's own text and CDATA content, concatenated."""
    return (el.text or "") + "".join(c.tail or "" for c in el)


# ----------------------------------------------------------------------------- the hashed text


def _sorted_attrs(m: re.Match[str]) -> str:
    pairs = sorted(_ATTR.findall(m.group(2)))
    return "<" + m.group(1) + "".join(f' {k}="{v}"' for k, v in pairs) + m.group(3) + ">"


def _libxml2_canonical(root: Any, data: bytes) -> str | None:
    """minidom's text from libxml2's serialization, or None where they could differ."""
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    if b"<![CDATA[" in body or b"&#" in body:
        return None  # CDATA boundaries; characters libxml2 writes as references (\r, \t, \n)
    if body.count(b"<?") != (1 if body.startswith(b"<?xml") else 0):
        return None  # processing instructions: minidom always wrote a space after the target
    if _QUOTE_IN_TEXT(root):
        return None  # minidom escaped '"' in text, libxml2 does not
    if _TAG_IN_COMMENT(root):
        return None  # the attribute sorting below reads tags; a comment is not one
    out = ['<?xml version="1.0" ?>']
    out += [f"<!--{c.text}-->" for c in reversed(list(root.itersiblings(preceding=True)))]
    out.append(_MULTI_ATTR.sub(_sorted_attrs, etree.tostring(root, encoding="unicode", with_tail=False)))
    out += [f"<!--{c.text}-->" for c in root.itersiblings()]
    return "".join(out)


def _esc(s: str) -> str:
    if "&" in s:
        s = s.replace("&", "&amp;")
    if "<" in s:
        s = s.replace("<", "&lt;")
    if '"' in s:
        s = s.replace('"', "&quot;")
    if ">" in s:
        s = s.replace(">", "&gt;")
    return s


def expat_canonical(data: bytes) -> str:
    """minidom's text written by a streaming expat pass (any document libxml2 accepted)."""
    parser = xml.parsers.expat.ParserCreate()
    parser.buffer_text = True
    parser.ordered_attributes = True
    out = ['<?xml version="1.0" ?>']
    emit = out.append
    depth = 0
    open_tag = False  # the last start tag still lacks its ">" (it becomes "/>" if no node follows)
    in_cdata = cdata_open = False  # an empty CDATA section made no node in minidom

    def close_tag() -> None:
        nonlocal open_tag
        if open_tag:
            emit(">")
            open_tag = False

    def start(name: str, attrs: list[str]) -> None:
        nonlocal open_tag, depth
        close_tag()
        pairs = sorted(zip(attrs[0::2], attrs[1::2], strict=True))
        emit("<" + name + "".join(f' {k}="{_esc(v)}"' for k, v in pairs))
        open_tag = True
        depth += 1

    def end(name: str) -> None:
        nonlocal open_tag, depth
        depth -= 1
        if open_tag:
            emit("/>")
            open_tag = False
        else:
            emit(f"</{name}>")

    def chars(data: str) -> None:
        nonlocal cdata_open
        if depth == 0:
            return  # whitespace outside the root element
        close_tag()
        if not in_cdata:
            emit(_esc(data))
            return
        if not cdata_open:
            emit("<![CDATA[")
            cdata_open = True
        emit(data)

    def cdata(starts: bool) -> None:
        nonlocal in_cdata, cdata_open
        if not starts and cdata_open:
            emit("]]>")
        in_cdata, cdata_open = starts, False

    def comment(data: str) -> None:
        close_tag()
        emit(f"<!--{data}-->")

    def pi(target: str, data: str) -> None:
        close_tag()
        emit(f"<?{target} {data}?>")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartCdataSectionHandler = lambda: cdata(True)
    parser.EndCdataSectionHandler = lambda: cdata(False)
    parser.CommentHandler = comment
    parser.ProcessingInstructionHandler = pi
    parser.Parse(data, True)
    return "".join(out)
