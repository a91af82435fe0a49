"""Parts several tiers build the same way, so each is written once: a tier module
imports templates.base and these, never another tier.

    iam            service roles (trust for one service of this account), policy documents
    keys           customer-managed KMS keys with the account-root statement
    buckets        the statements every bucket policy starts with
    certificates   the platform domain, the Certificates toggle, ACM certificates
    alarms         alarm specs, the alarm topic
    listeners      ALB listener-rule conditions (path, origin-verify header)
    edge_outputs   parameters fed by the edge stack's outputs
    functions      inline Python Lambda functions with their role and log group
    secrets        generated secrets
    logs           encrypted log groups
    regions        the supported regions and their ALB log-delivery accounts
"""
