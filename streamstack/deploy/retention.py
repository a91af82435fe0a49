"""What happens to a resource and its data when a change removes or replaces it.

CloudFormation says it in each change's PolicyAction (its DeletionPolicy or
UpdateReplacePolicy, evaluated for this stack's parameters):

  Delete, ReplaceAndDelete      the resource goes with its data          DATA-LOSS
  Retain, ReplaceAndRetain      it stays in the account, unmanaged       ORPHAN
  Snapshot, ReplaceAndSnapshot  a final snapshot keeps its data          RECOVERABLE

A change without a PolicyAction (an older endpoint) counts as Delete: a plan never
assumes data is kept when nothing says so.
"""

from __future__ import annotations

from streamstack.identity import awsdata

KEEPS = ("Retain", "ReplaceAndRetain")
SNAPSHOTS = ("Snapshot", "ReplaceAndSnapshot")
REPLACES = ("ReplaceAndDelete", "ReplaceAndRetain", "ReplaceAndSnapshot")

# Where each type's final snapshot goes (the types DeletionPolicy Snapshot supports).
SNAPSHOT_PLACES = {
    "AWS::RDS::DBCluster": "a final DB cluster snapshot (RDS, Snapshots)",
    "AWS::RDS::DBInstance": "a final DB snapshot (RDS, Snapshots)",
    "AWS::ElastiCache::ReplicationGroup": "a final backup (ElastiCache, Backups)",
    "AWS::ElastiCache::CacheCluster": "a final backup (ElastiCache, Backups)",
    "AWS::EC2::Volume": "an EBS snapshot (EC2, Snapshots)",
    "AWS::Redshift::Cluster": "a final cluster snapshot (Redshift, Snapshots)",
    "AWS::Neptune::DBCluster": "a final DB cluster snapshot (Neptune, Snapshots)",
    "AWS::DocDB::DBCluster": "a final cluster snapshot (DocumentDB, Snapshots)",
}


def label(policy_action: str | None) -> str:
    """The risk label of removing or replacing a stateful resource."""
    if policy_action in KEEPS:
        return "ORPHAN"
    if policy_action in SNAPSHOTS:
        return "RECOVERABLE"
    return "DATA-LOSS"


def consequence(
    *,
    resource_type: str,
    action: str,
    policy_action: str | None,
    physical_id: str = "",
    region: str = "",
    nested: bool = False,
) -> str:
    """One sentence a reviewer reads next to the row: what stays, where, and what
    will collide with it."""
    what = f"{physical_id} ({resource_type})" if physical_id else f"the {resource_type}"
    replacing = action != "Remove"
    if nested:
        if policy_action in KEEPS:
            return (
                "the nested stack is retained with everything in it, no longer managed by this tree"
            )
        return (
            "removes the whole nested stack: each resource in it goes as its own "
            "DeletionPolicy says (review them in its template)"
        )
    if policy_action in KEEPS:
        kept = (
            f"the replacement is created and the old {what} is kept in the account, no "
            "longer managed by the stack (it still costs money)"
            if replacing
            else f"{what} is kept in the account, no longer managed by the stack (it "
            "still costs money)"
        )
        name = awsdata.name_property(resource_type)
        if name is None:
            return kept + "; delete it by hand once nothing needs it"
        if replacing:
            return (
                kept + f"; if the template sets {name}, CloudFormation cannot replace it: "
                "the new one needs the name the old one keeps"
            )
        return (
            kept + f"; a new {resource_type} with the same {name} collides with it until it "
            "is deleted or imported"
        )
    if policy_action in SNAPSHOTS:
        place = SNAPSHOT_PLACES.get(resource_type, "a final snapshot")
        where = f" in {region}" if region else ""
        named = f", named after {physical_id}" if physical_id else ""
        if replacing:
            return (
                f"the replacement starts empty; the old one's data is kept in {place}"
                f"{where}{named}, from which it can be restored"
            )
        return (
            f"{what} is deleted after {place}{where}{named}; restoring means a new "
            "resource from that snapshot"
        )
    if replacing:
        return f"replaced: the old {what} is deleted with its data"
    return f"{what} is deleted with its data"
