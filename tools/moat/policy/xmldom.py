# SPDX-License-Identifier: MIT
"""A small DOM built with expat, shaped like Python 2's ``xml.dom.minidom``.

Xen 4.1's compiler stores ``sha1(dom.toxml())`` of the *parsed* policy in the
binary header.  Python 3's minidom serializes differently (attribute order,
escaping), so we build our own tree with the same node boundaries that
Python 2's ``expatbuilder`` produced (adjacent character data merged, CDATA
sections kept as their own nodes, comments and processing instructions kept,
whitespace outside the root dropped) and serialize it with Python 2.7's
``toxml()`` rules.  Every node also remembers the line it started on, for
``file:line`` messages.
"""

from __future__ import annotations

import xml.parsers.expat
from dataclasses import dataclass, field

# Node kinds (values follow the DOM constants, for readability only).
ELEMENT = 1
TEXT = 3
CDATA = 4
PI = 7
COMMENT = 8


class XmlSyntaxError(Exception):
    """The document is not well-formed XML (or uses a feature we refuse)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class Node:
    kind: int
    line: int
    # element: qualified tag name; PI: target
    name: str = ""
    # text/CDATA/comment data; PI data
    data: str = ""
    # element only: namespace URI of the tag ("" if none), local name
    ns: str = ""
    local: str = ""
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)

    # -- helpers used by the readers -------------------------------------
    def elements(self, local: str | None = None, ns: str | None = None) -> list[Node]:
        """Child elements, optionally filtered by local name and namespace."""
        out = []
        for c in self.children:
            if c.kind != ELEMENT:
                continue
            if local is not None and c.local != local:
                continue
            if ns is not None and c.ns != ns:
                continue
            out.append(c)
        return out

    def first(self, local: str, ns: str | None = None) -> Node | None:
        for c in self.elements(local, ns):
            return c
        return None

    def node_value(self) -> str | None:
        """DOM ``nodeValue``: data for text, CDATA, comments and PIs; None for elements."""
        if self.kind == ELEMENT:
            return None
        return self.data

    def first_child_value(self) -> str | None:
        """``node.childNodes[0].nodeValue`` or None when there are no children."""
        if not self.children:
            return None
        return self.children[0].node_value()

    def text(self) -> str:
        """All text and CDATA content, concatenated (for our own extension elements)."""
        return "".join(c.data for c in self.children if c.kind in (TEXT, CDATA))


@dataclass
class Document:
    children: list[Node]
    root: Node


class _Builder:
    def __init__(self) -> None:
        self.parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
        p = self.parser
        p.namespace_prefixes = True
        p.buffer_text = True
        p.ordered_attributes = False
        p.specified_attributes = True
        p.StartElementHandler = self.start
        p.EndElementHandler = self.end
        p.CharacterDataHandler = self.chars
        p.StartCdataSectionHandler = self.start_cdata
        p.EndCdataSectionHandler = self.end_cdata
        p.CommentHandler = self.comment
        p.ProcessingInstructionHandler = self.pi
        p.StartNamespaceDeclHandler = self.ns_decl
        p.StartDoctypeDeclHandler = self.doctype
        p.EntityDeclHandler = self.entity_decl
        self.doc_children: list[Node] = []
        self.stack: list[Node] = []
        self.pending_ns: list[tuple[str, str]] = []
        self.in_cdata = False
        self.cdata_continue = False

    def line(self) -> int:
        return int(self.parser.CurrentLineNumber)

    @staticmethod
    def _split(name: str) -> tuple[str, str, str]:
        parts = name.split(" ")
        if len(parts) == 1:
            return "", parts[0], parts[0]
        if len(parts) == 2:
            return parts[0], parts[1], parts[1]
        return parts[0], parts[1], parts[2] + ":" + parts[1]

    def _append(self, node: Node) -> None:
        if self.stack:
            self.stack[-1].children.append(node)
        elif node.kind in (COMMENT, PI, ELEMENT):
            self.doc_children.append(node)

    def start(self, name: str, attrs: dict[str, str]) -> None:
        ns, local, qname = self._split(name)
        node = Node(ELEMENT, self.line(), name=qname, ns=ns, local=local)
        for prefix, uri in self.pending_ns:
            node.attrs["xmlns:" + prefix if prefix else "xmlns"] = uri
        self.pending_ns = []
        for aname, value in attrs.items():
            node.attrs[self._split(aname)[2]] = value
        self._append(node)
        self.stack.append(node)

    def end(self, name: str) -> None:
        self.stack.pop()

    def chars(self, data: str) -> None:
        if not self.stack:
            return
        kids = self.stack[-1].children
        if self.in_cdata:
            if self.cdata_continue and kids and kids[-1].kind == CDATA:
                kids[-1].data += data
                return
            kids.append(Node(CDATA, self.line(), data=data))
            self.cdata_continue = True
        elif kids and kids[-1].kind == TEXT:
            kids[-1].data += data
        else:
            kids.append(Node(TEXT, self.line(), data=data))

    def start_cdata(self) -> None:
        self.in_cdata = True
        self.cdata_continue = False

    def end_cdata(self) -> None:
        self.in_cdata = False
        self.cdata_continue = False

    def comment(self, data: str) -> None:
        self._append(Node(COMMENT, self.line(), data=data))

    def pi(self, target: str, data: str) -> None:
        self._append(Node(PI, self.line(), name=target, data=data))

    def ns_decl(self, prefix: str | None, uri: str | None) -> None:
        self.pending_ns.append((prefix or "", uri or ""))

    def doctype(self, *args: object) -> None:
        raise XmlSyntaxError(self.line(), "DOCTYPE declarations are not supported in policies")

    def entity_decl(self, *args: object) -> None:
        raise XmlSyntaxError(self.line(), "entity declarations are not supported in policies")


def parse(data: bytes) -> Document:
    """Parse an XML document; raise XmlSyntaxError with a line number on failure."""
    b = _Builder()
    try:
        b.parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as e:
        raise XmlSyntaxError(e.lineno, xml.parsers.expat.ErrorString(e.code)) from None
    roots = [n for n in b.doc_children if n.kind == ELEMENT]
    if len(roots) != 1:
        raise XmlSyntaxError(1, "no root element")
    return Document(b.doc_children, roots[0])


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;").replace(">", "&gt;")


def _write(node: Node, out: list[str]) -> None:
    k = node.kind
    if k == ELEMENT:
        out.append("<" + node.name)
        for name in sorted(node.attrs):
            out.append(' %s="%s"' % (name, _esc(node.attrs[name])))
        if node.children:
            out.append(">")
            for c in node.children:
                _write(c, out)
            out.append("</%s>" % node.name)
        else:
            out.append("/>")
    elif k == TEXT:
        out.append(_esc(node.data))
    elif k == CDATA:
        if "]]>" in node.data:  # cannot happen for parsed input
            raise ValueError("']]>' not allowed in a CDATA section")
        out.append("<![CDATA[%s]]>" % node.data)
    elif k == COMMENT:
        out.append("<!--%s-->" % node.data)
    elif k == PI:
        out.append("<?%s %s?>" % (node.name, node.data))


def toxml(doc: Document) -> str:
    """Python 2.7 ``minidom.Document.toxml()`` of the parsed document."""
    out = ['<?xml version="1.0" ?>']
    for n in doc.children:
        _write(n, out)
    return "".join(out)
