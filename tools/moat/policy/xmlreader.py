# SPDX-License-Identifier: MIT
"""Read a Xen ACM ``SecurityPolicyDefinition`` (plus our permissions extension) into the model.

The document is first checked against the schema (moat.policy.schema): what the schema does not
know is an error at its line. Values are then taken the way Xen 4.1's ``acmpolicy.py`` takes them
(first child node's value, verbatim) so the compiled bytes match; what Xen silently skipped is
kept as a diagnostic for the checker.
"""

from __future__ import annotations

import hashlib
from typing import Any

from . import schema, xmldom
from .model import (
    QUOTA_FIELDS,
    QUOTA_MAX,
    SCHED_FIELDS,
    SCHED_MAX,
    ConflictSet,
    Diagnostic,
    Named,
    Permissions,
    Policy,
    PolicyReadError,
    Quota,
    ResourceLabel,
    SchedDefaults,
    Targets,
    VmLabel,
    parse_size_kib,
)
from .xmldom import children, first

MOAT_NS = schema.MOAT_NS

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

__all__ = ["MOAT_NS", "PolicyReadError", "read_xml"]


def read_xml(data: bytes, file: str) -> Policy:
    try:
        doc = xmldom.parse(data)
    except xmldom.XmlSyntaxError as e:
        raise PolicyReadError([Diagnostic(file, e.line, f"XML syntax: {e.message}")]) from None
    root = doc.root
    if xmldom.local(root) != "SecurityPolicyDefinition":
        found = xmldom.qname(root)
        raise PolicyReadError([Diagnostic(file, root.sourceline,
                                          f"root element is <{found}>, expected <SecurityPolicyDefinition>")])
    reader = _Reader(Policy(file=file, source_kind="xml"), doc.exact)
    reader.hash(doc.canonical(), data)
    reader.p.diagnostics += schema.validate(root, file)
    reader.header(root)
    reader.types(root)
    reader.labels(root)
    return reader.p


class _Reader:
    """The sections of a policy, each read into the model by one method."""

    def __init__(self, p: Policy, exact: bool) -> None:
        self.p = p
        self.exact = exact  # see xmldom: CDATA sections make child nodes count one by one

    def err(self, line: int, msg: str, level: str = "error") -> None:
        self.p.diagnostics.append(Diagnostic(self.p.file, line, msg, level))

    def value(self, el: Any) -> str | None:
        return xmldom.first_child_value(el, self.exact)

    def hash(self, canonical: str, data: bytes) -> None:
        if canonical.isascii():
            self.p.xml_hash = hashlib.sha1(canonical.encode("ascii")).digest()
            return
        line = next((i for i, text in enumerate(data.decode("utf-8", "replace").split("\n"), 1)
                     if not text.isascii()), 1)
        self.err(line, "non-ASCII character in the document: Xen's compiler cannot hash it (it crashes); "
                       "use ASCII only")

    def header(self, root: Any) -> None:
        p = self.p
        hdr = first(root, "PolicyHeader")
        if hdr is None:
            p.has_version = p.has_name = False
            self.err(root.sourceline, "missing <PolicyHeader>")
            return
        name = first(hdr, "PolicyName")
        if name is None:
            p.has_name = False
            self.err(hdr.sourceline, "missing <PolicyHeader>/<PolicyName>")
        else:
            p.name_line = name.sourceline
            v = self.value(name)
            if v is None:
                p.has_name = False
                self.err(name.sourceline, "empty <PolicyName>")
            else:
                p.name = v
        ver = first(hdr, "Version")
        if ver is None:
            p.has_version = False
            self.err(hdr.sourceline, "missing <PolicyHeader>/<Version> (Xen's compiler crashes without it)")
        else:
            p.version_line = ver.sourceline
            p.version = self.value(ver) or ""
        frm = first(hdr, "FromPolicy")
        if frm is not None:
            p.from_line = frm.sourceline
            fn, fv = first(frm, "PolicyName"), first(frm, "Version")
            p.from_policy = (
                (self.value(fn) or "") if fn is not None else "",
                (self.value(fv) or "") if fv is not None else "",
            )
            if fn is None or fv is None:
                self.err(frm.sourceline, "<FromPolicy> needs both <PolicyName> and <Version>")

    def type_list(self, parent: Any, where: str) -> list[Named]:
        out: list[Named] = []
        if parent is None:
            return out
        types = children(parent, "Type")
        for t in types:
            if not self.exact and t.text and not len(t):  # the usual <Type>name</Type>, read directly
                out.append(Named(str(t.text), t.sourceline))
                continue
            count = xmldom.child_count(t, self.exact)
            if count == 0:
                # <ChineseWallTypes><Type/></ChineseWallTypes> is Xen's own idiom for "none"
                if len(types) > 1:
                    self.err(t.sourceline, f"empty <Type/> in {where} is ignored", "warning")
                continue
            v = self.value(t)
            if v is None:
                self.err(t.sourceline, f"<Type> in {where} starts with an element, expected text")
                continue
            if count > 1:
                self.err(t.sourceline, f"<Type> in {where} has mixed content; Xen uses only its first part {v!r}",
                         "strict")
            out.append(Named(v, t.sourceline))
        return out

    def types(self, root: Any) -> None:
        p = self.p
        ste = first(root, "SimpleTypeEnforcement")
        if ste is not None:
            p.ste_types = self.type_list(first(ste, "SimpleTypeEnforcementTypes"), "SimpleTypeEnforcementTypes")
        cw = first(root, "ChineseWall")
        if cw is None:
            return
        p.chwall_types = self.type_list(first(cw, "ChineseWallTypes"), "ChineseWallTypes")
        sets = first(cw, "ConflictSets")
        if sets is not None:
            for c in children(sets, "Conflict"):
                cname = c.get("name", "")
                p.conflict_sets.append(ConflictSet(cname, c.sourceline, self.type_list(c, f"Conflict {cname!r}")))

    def labels(self, root: Any) -> None:
        tmpl = first(root, "SecurityLabelTemplate")
        if tmpl is None:
            self.p.has_subjects = False
            self.err(root.sourceline,
                     "missing <SecurityLabelTemplate> (a Xen 3.0-era policy keeps labels in a separate file)")
            return
        subj = first(tmpl, "SubjectLabels")
        if subj is None:
            self.p.has_subjects = False
            self.err(tmpl.sourceline, "missing <SubjectLabels>")
        else:
            self.p.bootstrap = subj.get("bootstrap", "")
            self.p.bootstrap_line = subj.sourceline
            for v in children(subj, "VirtualMachineLabel"):
                self.vm_label(v)
        obj = first(tmpl, "ObjectLabels")
        if obj is not None:
            for r in children(obj, "ResourceLabel"):
                self.resource_label(r)

    def label_name(self, el: Any) -> tuple[Any, str, int]:
        """A label's <Name> element, its text ('' when missing or empty: Xen ignores such a label), its line."""
        n = first(el, "Name")
        name = (self.value(n) or "") if n is not None else ""
        if name == "":
            self.err(el.sourceline, f"{xmldom.local(el)} without a name (Xen ignores it)", "strict")
        return n, name, n.sourceline if n is not None else el.sourceline

    def vm_label(self, v: Any) -> None:
        n, name, line = self.label_name(v)
        if name == "":
            return
        lab = VmLabel(name, line)
        if n is not None and n.get("from") is not None:
            lab.from_name = n.get("from")
        stes = children(v, "SimpleTypeEnforcementTypes")
        chws = children(v, "ChineseWallTypes")
        if len(stes) > 1:
            self.err(stes[1].sourceline,
                     f"label {name!r}: more than one SimpleTypeEnforcementTypes (Xen uses the first)", "strict")
        if len(chws) > 1:
            self.err(chws[1].sourceline, f"label {name!r}: more than one ChineseWallTypes (Xen uses the first)",
                     "strict")
        lab.ste = self.type_list(stes[0] if stes else None, f"label {name!r}")
        lab.chwall = self.type_list(chws[0] if chws else None, f"label {name!r}")
        # The schema allows one moat:Permissions, last, with known permissions only.
        perms = first(v, "Permissions", MOAT_NS)
        if perms is not None:
            lab.permissions = self.permissions(perms, name)
        quota = first(v, "Quota", MOAT_NS)
        if quota is not None:
            lab.quota = self.quota(quota, name)
        sched = first(v, "Sched", MOAT_NS)
        if sched is not None:
            lab.sched = self.sched(sched, name)
        self.p.vm_labels.append(lab)

    def sched(self, t: Any, label: str) -> SchedDefaults:
        # The schema allows the known attributes only, as digits.
        out = SchedDefaults(t.sourceline)
        for k in SCHED_FIELDS:
            text = t.get(k)
            if text is None:
                continue
            val = int(text) if text.strip().isdigit() else 0
            if not 1 <= val <= SCHED_MAX[k]:
                self.err(t.sourceline, f"label {label!r}: sched {k}={text!r} must be from 1 to {SCHED_MAX[k]}")
                continue
            setattr(out, k, val)
        if not any(t.get(k) is not None for k in SCHED_FIELDS):
            self.err(t.sourceline, f"label {label!r}: moat:Sched sets nothing (give weight, cap or both)")
        return out

    def quota(self, q: Any, label: str) -> Quota:
        # The schema allows the known attributes only, memory as digits and a unit.
        out = Quota(q.sourceline)
        for k in QUOTA_FIELDS:
            text = q.get(k)
            if text is None:
                continue
            val = parse_size_kib(text) if k == "memory" else (int(text) if text.strip().isdigit() else None)
            if val is None or val > QUOTA_MAX:
                self.err(q.sourceline, f"label {label!r}: quota {k}={text!r} is not a limit up to {QUOTA_MAX}"
                         + (" KiB" if k == "memory" else ""))
                continue
            setattr(out, k, val)
        return out

    def resource_label(self, r: Any) -> None:
        _, name, line = self.label_name(r)
        if name == "":
            return
        stes = children(r, "SimpleTypeEnforcementTypes")
        lab = ResourceLabel(name, line, None)
        if stes:
            if len(stes) > 1:
                self.err(stes[1].sourceline, f"resource label {name!r}: more than one SimpleTypeEnforcementTypes",
                         "strict")
            lab.ste = self.type_list(stes[0], f"resource label {name!r}")
        self.p.resource_labels.append(lab)

    def permissions(self, pe: Any, label: str) -> Permissions:
        # The schema allows each permission at most once, and only <Label> (<Device>) inside.
        perm = Permissions(pe.sourceline)
        for c in pe.iterchildren(f"{{{MOAT_NS}}}*"):
            what = xmldom.local(c)
            if what == "LoadPolicy":
                perm.load_policy = True
            elif what == "AssignDevice":
                devices = children(c, "Device", MOAT_NS)
                if not devices:
                    self.err(c.sourceline, f"label {label!r}: <{xmldom.qname(c)}> lists no <Device> it may be assigned")
                perm.devices += [Named(xmldom.text(dev).strip(), dev.sourceline) for dev in devices]
            elif what in _TARGET_ELEMENTS:
                key = _TARGET_ELEMENTS[what]
                labels = [Named(xmldom.text(lab), lab.sourceline) for lab in children(c, "Label", MOAT_NS)]
                if not labels and key == "create":
                    self.err(c.sourceline, f"label {label!r}: <{xmldom.qname(c)}> lists no <Label> it may create")
                setattr(perm, key, Targets(c.sourceline, everyone=not labels, labels=labels))
        return perm
