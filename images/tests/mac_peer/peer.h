/* SPDX-License-Identifier: MIT */
/* The permission checks of mac_peer (perm.c). */
#ifndef MAC_PEER_H
#define MAC_PEER_H

void peer_noperm(void);
void peer_reader(void);
void peer_limited(void);

#endif
