"""The regions the platform deploys to, and what each needs that CloudFormation cannot
look up: the Elastic Load Balancing account that delivers ALB access logs there, and
where an account sees fewer Availability Zones than the network tier spreads over.
Pure data: the storage and network tiers and params validation read it."""

# The Availability Zones the network tier spreads its subnets over (Fn::Select 0..2 of
# Fn::GetAZs).
AZS = (1, 2, 3)
# Availability Zones an account can use, where that may be fewer than three: us-west-1
# offers two to every account created since about 2013 (older ones see a third).
# Fn::GetAZs returns what the account can use, so Select 2 fails there. Validation
# refuses these regions; the build checks AZS against this table.
AZ_COUNTS = {"us-west-1": 2}
TYPICAL_AZ_COUNT = 3  # every other supported region offers at least three

# ALB access-log delivery: the regional Elastic Load Balancing account (regions opened
# before August 2022); newer regions use the log-delivery service principal instead.
ELB_LOG_ACCOUNTS = {
    "us-east-1": "127311923021",
    "us-east-2": "033677994240",
    "us-west-1": "027434742980",
    "us-west-2": "797873946194",
    "af-south-1": "098369216593",
    "ap-east-1": "754344448648",
    "ap-south-1": "718504428378",
    "ap-northeast-1": "582318560864",
    "ap-northeast-2": "600734575887",
    "ap-northeast-3": "383597477331",
    "ap-southeast-1": "114774131450",
    "ap-southeast-2": "783225319266",
    "ap-southeast-3": "589379963580",
    "ca-central-1": "985666609251",
    "eu-central-1": "054676820928",
    "eu-west-1": "156460612806",
    "eu-west-2": "652711504416",
    "eu-west-3": "009996457667",
    "eu-north-1": "897822967062",
    "eu-south-1": "635631232127",
    "me-south-1": "076674570225",
    "sa-east-1": "507241528517",
}
# Regions opened since August 2022: ALB logs arrive from the log-delivery service
# principal (logdelivery.elasticloadbalancing.amazonaws.com) only; there is no account.
LOG_DELIVERY_SERVICE_REGIONS = (
    "ap-east-2",
    "ap-south-2",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-west-1",
    "eu-central-2",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "mx-central-1",
)
# Every region the templates can serve (the storage tier maps each one).
SUPPORTED_REGIONS = tuple(sorted({*ELB_LOG_ACCOUNTS, *LOG_DELIVERY_SERVICE_REGIONS}))
