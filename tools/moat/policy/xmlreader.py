# SPDX-License-Identifier: MIT
"""Read a Xen ACM ``SecurityPolicyDefinition`` (plus our permissions extension) into the model.

Values are taken the way Xen 4.1's ``acmpolicy.py`` takes them (first child
node's value, verbatim) so the compiled bytes match; what Xen silently
skipped is kept as a diagnostic for the checker.
"""

from __future__ import annotations

import hashlib

from . import xmldom
from .model import ConflictSet, Diagnostic, Named, Permissions, Policy, ResourceLabel, Targets, VmLabel

MOAT_NS = "urn:moat:policy:permissions:1"

# Permissions that name their target labels: <moat:Label> children, or none for every label
# (CreateDomain must name its labels).
_TARGET_ELEMENTS = {
    "CreateDomain": "create",
    "DestroyDomain": "destroy",
    "PauseDomain": "pause",
    "ReadDomainState": "read_state",
    "ForeignEventChannels": "foreign_evtchn",
    "ForeignGrantTables": "foreign_gnttab",
}


class PolicyReadError(Exception):
    """The input cannot be turned into a model at all."""

    def __init__(self, diags: list[Diagnostic]) -> None:
        super().__init__("\n".join(str(d) for d in diags))
        self.diagnostics = diags


def _first_non_ascii_line(data: bytes) -> int | None:
    text = data.decode("utf-8", errors="replace")
    for i, line in enumerate(text.split("\n"), 1):
        if not line.isascii():
            return i
    return None


def read_xml(data: bytes, file: str) -> Policy:
    p = Policy(file=file, source_kind="xml")
    diags = p.diagnostics

    def err(line: int, msg: str, level: str = "error") -> None:
        diags.append(Diagnostic(file, line, msg, level))

    try:
        doc = xmldom.parse(data)
    except xmldom.XmlSyntaxError as e:
        raise PolicyReadError([Diagnostic(file, e.line, f"XML syntax: {e.message}")]) from None
    root = doc.root
    if root.local != "SecurityPolicyDefinition":
        raise PolicyReadError(
            [Diagnostic(file, root.line, f"root element is <{root.name}>, expected <SecurityPolicyDefinition>")]
        )
    canon = xmldom.toxml(doc)
    if canon.isascii():
        p.xml_hash = hashlib.sha1(canon.encode("ascii")).digest()
    else:
        line = _first_non_ascii_line(data) or 1
        err(line, "non-ASCII character in the document: Xen's compiler cannot hash it (it crashes); use ASCII only")

    # --- header ----------------------------------------------------------
    hdr = root.first("PolicyHeader")
    if hdr is None:
        p.has_version = p.has_name = False
        err(root.line, "missing <PolicyHeader>")
    else:
        name = hdr.first("PolicyName")
        if name is None:
            p.has_name = False
            err(hdr.line, "missing <PolicyHeader>/<PolicyName>")
        else:
            p.name_line = name.line
            v = name.first_child_value()
            if v is None:
                p.has_name = False
                err(name.line, "empty <PolicyName>")
            else:
                p.name = v
        ver = hdr.first("Version")
        if ver is None:
            p.has_version = False
            err(hdr.line, "missing <PolicyHeader>/<Version> (Xen's compiler crashes without it)")
        else:
            p.version_line = ver.line
            p.version = ver.first_child_value() or ""
        frm = hdr.first("FromPolicy")
        if frm is not None:
            p.from_line = frm.line
            fn = frm.first("PolicyName")
            fv = frm.first("Version")
            p.from_policy = (
                (fn.first_child_value() or "") if fn is not None else "",
                (fv.first_child_value() or "") if fv is not None else "",
            )
            if fn is None or fv is None:
                err(frm.line, "<FromPolicy> needs both <PolicyName> and <Version>")

    # --- type lists --------------------------------------------------------
    def type_list(parent: xmldom.Node | None, where: str) -> list[Named]:
        out: list[Named] = []
        if parent is None:
            return out
        types = parent.elements("Type")
        for t in types:
            if not t.children:
                # <ChineseWallTypes><Type/></ChineseWallTypes> is Xen's own idiom for "none"
                if len(types) > 1:
                    err(t.line, f"empty <Type/> in {where} is ignored", "warning")
                continue
            v = t.first_child_value()
            if v is None:
                err(t.line, f"<Type> in {where} starts with an element, expected text")
                continue
            if len(t.children) > 1:
                err(t.line, f"<Type> in {where} has mixed content; Xen uses only its first part {v!r}", "strict")
            out.append(Named(v, t.line))
        return out

    ste = root.first("SimpleTypeEnforcement")
    if ste is not None:
        p.ste_types = type_list(ste.first("SimpleTypeEnforcementTypes"), "SimpleTypeEnforcementTypes")
    cw = root.first("ChineseWall")
    if cw is not None:
        p.chwall_types = type_list(cw.first("ChineseWallTypes"), "ChineseWallTypes")
        sets = cw.first("ConflictSets")
        if sets is not None:
            for c in sets.elements("Conflict"):
                cname = c.attrs.get("name", "")
                p.conflict_sets.append(ConflictSet(cname, c.line, type_list(c, f"Conflict {cname!r}")))

    # --- labels ------------------------------------------------------------
    tmpl = root.first("SecurityLabelTemplate")
    if tmpl is None:
        p.has_subjects = False
        err(root.line, "missing <SecurityLabelTemplate> (a Xen 3.0-era policy keeps labels in a separate file)")
        return p
    subj = tmpl.first("SubjectLabels")
    if subj is None:
        p.has_subjects = False
        err(tmpl.line, "missing <SubjectLabels>")
    else:
        p.bootstrap = subj.attrs.get("bootstrap", "")
        p.bootstrap_line = subj.line
        for v in subj.elements("VirtualMachineLabel"):
            n = v.first("Name")
            name = (n.first_child_value() or "") if n is not None else ""
            if name == "":
                err(v.line, "VirtualMachineLabel without a name (Xen ignores it)", "strict")
                continue
            lab = VmLabel(name, n.line if n is not None else v.line)
            if n is not None and "from" in n.attrs:
                lab.from_name = n.attrs["from"]
            stes = v.elements("SimpleTypeEnforcementTypes")
            chws = v.elements("ChineseWallTypes")
            if len(stes) > 1:
                err(
                    stes[1].line,
                    f"label {name!r}: more than one SimpleTypeEnforcementTypes (Xen uses the first)",
                    "strict",
                )
            if len(chws) > 1:
                err(chws[1].line, f"label {name!r}: more than one ChineseWallTypes (Xen uses the first)", "strict")
            lab.ste = type_list(stes[0] if stes else None, f"label {name!r}")
            lab.chwall = type_list(chws[0] if chws else None, f"label {name!r}")
            perms = v.elements(ns=MOAT_NS)
            for pe in perms:
                if pe.local != "Permissions":
                    err(pe.line, f"unknown element <{pe.name}> (expected moat:Permissions)")
                    continue
                if lab.permissions is not None:
                    err(pe.line, f"label {name!r}: more than one <{pe.name}>")
                    continue
                lab.permissions = _read_permissions(pe, name, err)
            p.vm_labels.append(lab)
    obj = tmpl.first("ObjectLabels")
    if obj is not None:
        for r in obj.elements("ResourceLabel"):
            n = r.first("Name")
            name = (n.first_child_value() or "") if n is not None else ""
            line = n.line if n is not None else r.line
            if name == "":
                err(r.line, "ResourceLabel without a name (Xen ignores it)", "strict")
                continue
            stes = r.elements("SimpleTypeEnforcementTypes")
            lab = ResourceLabel(name, line, None)
            if stes:
                if len(stes) > 1:
                    err(stes[1].line, f"resource label {name!r}: more than one SimpleTypeEnforcementTypes", "strict")
                lab.ste = type_list(stes[0], f"resource label {name!r}")
            p.resource_labels.append(lab)
    for el in root.elements(ns=MOAT_NS):
        err(el.line, f"<{el.name}> is only allowed inside a VirtualMachineLabel")
    return p


def _read_permissions(pe: xmldom.Node, label: str, err) -> Permissions:  # type: ignore[no-untyped-def]
    perm = Permissions(pe.line)
    for c in pe.children:
        if c.kind == xmldom.TEXT and c.data.strip() == "":
            continue
        if c.kind == xmldom.COMMENT:
            continue
        if c.kind != xmldom.ELEMENT or c.ns != MOAT_NS:
            err(c.line, f"label {label!r}: unexpected content in <{pe.name}>")
            continue
        if c.local == "LoadPolicy":
            if perm.load_policy:
                err(c.line, f"label {label!r}: more than one <{c.name}>")
            perm.load_policy = True
        elif c.local in _TARGET_ELEMENTS:
            key = _TARGET_ELEMENTS[c.local]
            if perm.targets(key) is not None:
                err(c.line, f"label {label!r}: more than one <{c.name}>")
                continue
            for x in c.children:
                if not (x.kind == xmldom.COMMENT or (x.kind == xmldom.TEXT and x.data.strip() == "") or
                        (x.kind == xmldom.ELEMENT and x.ns == MOAT_NS and x.local == "Label")):
                    err(x.line, f"label {label!r}: unexpected content in <{c.name}>")
            labels = [Named(lab.text(), lab.line) for lab in c.elements("Label", MOAT_NS)]
            if not labels and key == "create":
                err(c.line, f"label {label!r}: <{c.name}> lists no <Label> it may create")
            setattr(perm, key, Targets(c.line, everyone=not labels, labels=labels))
        else:
            err(c.line, f"label {label!r}: unknown permission <{c.name}>")
    return perm
