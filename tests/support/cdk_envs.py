"""The CDK app's environments as the template tests see them."""

from __future__ import annotations

ENVIRONMENTS = ("dev", "staging", "prod")

# One environment with every optional setting of the database and on-call turned on, synthesized once per
# session (with the three default environments, the only extra synth the operations tests need).
OPTIONS = {
    "engineVersion": "18.1",
    "allowMajorVersionUpgrade": True,
    "kmsKey": "create",
    "clientSecurityGroupIds": ["sg-0123456789abcdef0", "sg-0fedcba9876543210"],
    "clientCidrs": ["10.20.0.0/16", "fd00:1::/64"],
    "onCall": {"emails": ["a@example.com", "b@example.com"], "httpsEndpoint": "https://events.example.com/hook"},
    "alarms": {"cpuPercent": 70, "freeStorageGb": 3, "connectionsPercent": False, "manualSnapshots": 90},
    "performanceInsights": True,
    "enhancedMonitoringSeconds": 30,
}
