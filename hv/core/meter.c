// SPDX-License-Identifier: MIT
// Metering: the stats hypercall's answer and the `stats:` lines (moat/meter.h).
#include <moat/console.h>
#include <moat/domain.h>
#include <moat/lib.h>
#include <moat/meter.h>
#include <moat/sched.h>
#include <moat/shutdown.h>
#include <moat/timer.h>

#define STATS_MS_MIN 10
#define STATS_MS_MAX 60000

static uint64_t period_ns;  /* 0: no periodic lines */
static uint64_t next_ns;

void meter_init(void)
{
    char word[16];
    if (!cmdline_get("stats", word, sizeof(word)))
        return;
    uint64_t ms = 0;
    if (!cmdline_number(word, STATS_MS_MAX, &ms) || ms < STATS_MS_MIN) {
        printk("moat: stats=%s: a number of milliseconds, %u to %u\n", word, STATS_MS_MIN, STATS_MS_MAX);
        machine_stop(STOP_FAILURE);
    }
    period_ns = ms * 1000000;
    printk("meter: a stats line per domain every %lu ms\n", ms);
}

void meter_fill(const struct domain *d, struct moat_domain_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->cpu_time_ns = sched_cycles_to_ns(d->cpu_time_cycles);
    out->nr_pages = d->nr_pages;
    out->events_sent = d->meter.events_sent;
    out->events_received = d->meter.events_received;
    out->grant_maps = d->meter.grant_maps;
    out->grant_copies = d->meter.grant_copies;
    out->grant_copy_bytes = d->meter.grant_copy_bytes;
    out->mac_denials = d->meter.mac_denials;
    out->frames_charged = d->quota.held[QUOTA_FRAMES];
    out->ports = d->quota.held[QUOTA_PORTS];
    out->grant_frames = d->quota.held[QUOTA_GRANT_FRAMES];
    out->maptrack = d->quota.held[QUOTA_MAPTRACK];
    memcpy(out->hypercalls, d->meter.hypercalls, sizeof(out->hypercalls));
}

static void line(const struct domain *d, uint64_t now, bool end)
{
    uint64_t calls = 0;
    for (unsigned i = 0; i < MOAT_NR_HYPERCALLS; i++)
        calls += d->meter.hypercalls[i];
    const struct meter *m = &d->meter;
    printk("stats: t=%lu d=%u name=%s cpu=%lu hc=%lu ev=%lu/%lu gm=%lu gc=%lu/%lu deny=%lu mem=%lu fr=%u ports=%u%s\n",
           now / 1000000, d->domid, d->name, sched_cycles_to_ns(d->cpu_time_cycles) / 1000, calls, m->events_sent, m->events_received,
           m->grant_maps, m->grant_copies, m->grant_copy_bytes, m->mac_denials, d->nr_pages,
           d->quota.held[QUOTA_FRAMES], d->quota.held[QUOTA_PORTS], end ? " end" : "");
}

void meter_tick(uint64_t now, uint64_t *deadline_ns)
{
    if (!period_ns)
        return;
    if (now >= next_ns) {
        next_ns = now + period_ns;
        for (unsigned i = 0; i < MOAT_MAX_DOMAINS; i++) {
            const struct domain *d = domain_table(i);
            if (d->state == DOM_RUNNABLE) /* live: its vCPUs run, block or are down */
                line(d, now, false);
        }
    }
    if (next_ns < *deadline_ns)
        *deadline_ns = next_ns;
}

void meter_final(const struct domain *d) { line(d, now_ns(), true); }
