"""A host: one floe engine among those that may share work (floe-reference §3.1, §5).

A host has a name, which numbers its runs (`<name>-<n>`, events.HostedID), and tags; a flow
runs only on a host whose tags include every one of the flow's host tags. That rule lives
here, for every place that asks it: this host's dispatcher, the p2p hand-off choosing a peer,
and a host taking over a lost host's run on a shared store (whose claim query asks the same in
SQL: `host_tags <@ tags`). The other hosts are seen through the cluster: p2p peers
(cluster/membership.Peer) or a shared store's heartbeat rows (store/base.HostSeen).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def missing_tags(host_tags: Iterable[str], tags: Iterable[str]) -> list[str]:
    """The flow's `host_tags` a host with `tags` lacks, in the flow's order; none: it may run
    the flow."""
    have = set(tags)
    return [t for t in host_tags if t not in have]


@dataclass(frozen=True)
class Host:
    """This engine as a host: its name (`-host_name`) and its tags (`-tags`)."""

    name: str
    tags: tuple[str, ...] = ()

    def lacks(self, host_tags: Iterable[str]) -> list[str]:
        """The host tags of a flow this host lacks (empty: it may run the flow)."""
        return missing_tags(host_tags, self.tags)
