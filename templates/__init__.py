"""The troposphere code: one module per tier, the root that nests them, and the
stand-alone stacks. TIERS is the nesting order of the root (also the order of the
console's parameter groups); STANDALONE templates are deployed on their own; DEPLOY_ROLES
are stand-alone too, their policies derived from all the others (streamstack.render
renders them last)."""

from templates.api import ApiTier
from templates.backup import BackupTier
from templates.bootstrap import BootstrapTier
from templates.cdn import CdnTier
from templates.compute import ComputeTier
from templates.data import DataTier
from templates.deploy_role import DeployRoleTier
from templates.dns import DnsTier
from templates.dns_records import DnsRecordsTier
from templates.edge import EdgeTier
from templates.fleet import FleetTier
from templates.load_balancer import LoadBalancerTier
from templates.media import MediaTier
from templates.messaging import MessagingTier
from templates.network import NetworkTier
from templates.observability import ObservabilityTier
from templates.security import SecurityTier
from templates.stackset_role import StackSetRoleTier
from templates.standby import StandbyTier
from templates.storage import StorageTier

TIERS = [
    NetworkTier,
    SecurityTier,
    StorageTier,
    DnsTier,
    DataTier,
    BackupTier,
    MessagingTier,
    LoadBalancerTier,
    ComputeTier,
    FleetTier,
    CdnTier,
    DnsRecordsTier,
    MediaTier,
    ApiTier,
    ObservabilityTier,
]
STANDALONE = [EdgeTier, BootstrapTier, StandbyTier]
DEPLOY_ROLES = [DeployRoleTier, StackSetRoleTier]
