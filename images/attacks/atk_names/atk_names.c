// SPDX-License-Identifier: MIT
// Log injection (issue 10, breach 4): nothing a guest controls may reach the console raw. Domain
// names must be 1 to 31 of A-Za-z0-9_.- (-EINVAL otherwise); console output and a policy's name
// (which a label with load_policy chooses) are escaped. A forged line would read, at the start
// of a console line, `moat: stop: success`: tests/attacks checks that the console has no such
// line but the last, and no escape or carriage-return byte at all. Label system. Modes:
//   names   the attacks        child   sleep (a domain that should never have been created)
#include <moat/acm.h>

#include "../common/attack.h"
#include "embedded_policies.h"

static void create_named(const char *attack, const char *name, size_t len)
{
    int img = find_image("atk_names");
    struct moat_domctl op;
    memset(&op, 0, sizeof(op));
    op.cmd = XEN_DOMCTL_createdomain;
    op.interface_version = MOAT_INTERFACE_VERSION;
    op.u.create.image = img < 0 ? 0u : (uint32_t)img;
    op.u.create.memory_kib = 128;
    op.u.create.ssidref = ATTACK_POLICY_SSID_RED;
    memcpy(op.u.create.name, name, len < sizeof(op.u.create.name) ? len : sizeof(op.u.create.name));
    strlcpy(op.u.create.cmdline, "mode=child", sizeof(op.u.create.cmdline));
    long rc = HYPERVISOR_domctl(&op);
    if (rc == 0)
        domctl_destroy(op.u.create.domid);
    expect_rc(attack, rc, -XEN_EINVAL);
}

static void names(void)
{
    static const char newline[] = "x\nmoat: stop: success";
    static const char escape[] = "\x1b[2J\x1b[Hx";
    create_named("name-newline", newline, sizeof(newline));
    create_named("name-escape", escape, sizeof(escape));
    create_named("name-empty", "", 1);
    create_named("name-space", "two words", 10);
    create_named("name-quote", "it's", 5);
    create_named("name-unterminated", "0123456789abcdef0123456789abcdef", 32);

    /* Guest console output: control bytes are filtered, every line is prefixed (d<id>). */
    static const char forge[] = "\r\x1b[2K\nmoat: stop: success\n\x1b]0;title\x07\n";
    long rc = HYPERVISOR_console_io(CONSOLEIO_write, sizeof(forge) - 1, forge);
    expect_rc("console-forge", rc, (long)sizeof(forge) - 1);

    /* The live policy again, under a name made of a line break and a forged line. */
    static uint8_t blob[sizeof(attack_policy)] __attribute__((aligned(8)));
    memcpy(blob, attack_policy, sizeof(blob));
    static const char forged[] = "\nmoat: stop:"; /* as long as "moat-attacks": the blob keeps its size */
    uint32_t len = (uint32_t)blob[60] << 24 | (uint32_t)blob[61] << 16 | (uint32_t)blob[62] << 8 | blob[63];
    if (len != sizeof(forged)) {
        verdict("policy-name-forge", false, "set-up: the policy name is %u bytes", len);
        return;
    }
    memcpy(blob + 64, forged, sizeof(forged) - 1);
    struct acm_setpolicy out;
    rc = acm_setpolicy(blob, (uint32_t)sizeof(blob), ACM_MODE_REVOKE, NULL, 0, &out);
    expect_rc("policy-name-forge", rc, 0);
}

int main(const struct start_info *si)
{
    (void)si;
    static const struct attack_mode modes[] = {{"names", names}, {"child", attack_sleep_forever}};
    return attack_main(modes, ARRAY_SIZE(modes));
}
