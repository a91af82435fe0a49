"""The troposphere code: one module per tier, the root that nests them, and the
stand-alone stacks. TIERS is the nesting order of the root (also the order of the
console's parameter groups); STANDALONE templates are deployed on their own."""
from templates.bootstrap import BootstrapTier
from templates.network import NetworkTier
from templates.security import SecurityTier
from templates.storage import StorageTier

TIERS = [NetworkTier, SecurityTier, StorageTier]
STANDALONE: list = [BootstrapTier]
