"""The regions the platform deploys to, and what each needs that CloudFormation cannot
look up: the Elastic Load Balancing account that delivers ALB access logs there.
Pure data: the storage tier's mapping and params validation both read it."""

# ALB access-log delivery: the regional Elastic Load Balancing account (regions opened
# before August 2022); newer regions use the log-delivery service principal instead.
ELB_LOG_ACCOUNTS = {
    "us-east-1": "127311923021", "us-east-2": "033677994240", "us-west-1": "027434742980",
    "us-west-2": "797873946194", "af-south-1": "098369216593", "ap-east-1": "754344448648",
    "ap-south-1": "718504428378", "ap-northeast-1": "582318560864",
    "ap-northeast-2": "600734575887", "ap-northeast-3": "383597477331",
    "ap-southeast-1": "114774131450", "ap-southeast-2": "783225319266",
    "ap-southeast-3": "589379963580", "ca-central-1": "985666609251",
    "eu-central-1": "054676820928", "eu-west-1": "156460612806", "eu-west-2": "652711504416",
    "eu-west-3": "009996457667", "eu-north-1": "897822967062", "eu-south-1": "635631232127",
    "me-south-1": "076674570225", "sa-east-1": "507241528517",
}
# Every region the templates can serve (the storage tier maps each one).
SUPPORTED_REGIONS = tuple(sorted(ELB_LOG_ACCOUNTS))
