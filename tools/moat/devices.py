# SPDX-License-Identifier: MIT
"""The devices a domain can be given (hv/include/public/device.h): device n is DEVICES[n], and
every bitmask of devices (the boot manifest's, a policy label's, a measured domain's) has bit n
for it. Scenarios name them, policies permit them, the verifier reads them back."""

from __future__ import annotations

DEVICES = ("tpm", "com2")
DEVICES_ALL = (1 << len(DEVICES)) - 1  # DEVICE_ALL
