// SPDX-License-Identifier: MIT
// The cost of EVTCHNOP_send, on a loopback interdomain channel (alloc_unbound(self) + bind), so
// one domain owns both ends and can reset the receiving end between samples:
//   evtchn_send            the full path: the receiving port's pending bit, its selector bit and
//                          upcall_pending are newly set (upcalls are masked, so no upcall runs;
//                          the bits are cleared outside the timed region)
//   evtchn_send_coalesced  the receiving port is already pending: the edge coalesces
// Both include the syscall entry and the sysret exit, as a guest sees them.
#include <moat/bench.h>
#include <moat/evtchn.h>
#include <moat/test.h>

#define WARMUP 100u
#define SAMPLES 1000u

static uint64_t samples[SAMPLES];

static void clear_receiver(evtchn_port_t port)
{
    struct vcpu_info *vi = &shared_info->vcpu_info[0];
    evtchn_port_clear(port);
    __atomic_store_n(&vi->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&vi->evtchn_upcall_pending, 0, __ATOMIC_SEQ_CST);
}

void test_main(void)
{
    evtchn_upcalls_mask(); // a domain starts masked; stay so: no upcall inside a sample
    long a = evtchn_alloc_unbound(DOMID_SELF);
    long b = a > 0 ? evtchn_bind_interdomain(DOMID_SELF, (evtchn_port_t)a) : a;
    if (b <= 0) {
        xtf_error("Error: loopback channel: %ld %ld\n", a, b);
        return;
    }
    struct evtchn_send send = { .port = (evtchn_port_t)a };
    bench_overhead();

    for (unsigned i = 0; i < WARMUP + SAMPLES; i++) {
        clear_receiver((evtchn_port_t)b);
        uint64_t t0 = bench_tsc();
        long rc = HYPERVISOR_event_channel_op(EVTCHNOP_send, &send);
        uint64_t d = bench_tsc() - t0;
        if (rc != 0 || !evtchn_port_pending((evtchn_port_t)b)) {
            xtf_error("Error: send returned %ld, pending %d\n", rc, evtchn_port_pending((evtchn_port_t)b));
            return;
        }
        if (i >= WARMUP)
            samples[i - WARMUP] = bench_net(d);
    }
    bench_report("evtchn_send", samples, SAMPLES, "instructions");

    BENCH_SAMPLES(samples, SAMPLES, WARMUP, HYPERVISOR_event_channel_op(EVTCHNOP_send, &send));
    bench_report("evtchn_send_coalesced", samples, SAMPLES, "instructions");
    xtf_success(NULL);
}
