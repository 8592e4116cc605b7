"""Where the database lives: its own VPC with isolated subnets and no NAT, or an existing one.

The migration Lambda reaches Secrets Manager and the RDS API through interface
endpoints, so nothing in the VPC needs a route to the internet.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

ISOLATED = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
DEFAULT_ZONE_COUNT = 2


def stack_zones(configured: tuple[str, ...]) -> list[str]:
    """The zones a stack offers its VPC: cdk.json's availabilityZones, else the first two of the account's own
    (Fn::GetAZs, resolved by CloudFormation at deploy: no lookup, so no credentials at synth)."""
    if configured:
        return list(configured)
    return [cdk.Fn.select(i, cdk.Fn.get_azs()) for i in range(DEFAULT_ZONE_COUNT)]


class Network(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, vpc_id: str | None, create_endpoints: bool, zone_count: int
    ) -> None:
        super().__init__(scope, construct_id)
        if vpc_id:
            self.vpc: ec2.IVpc = ec2.Vpc.from_lookup(self, "Vpc", vpc_id=vpc_id)
        else:
            vpc = ec2.Vpc(
                self,
                "Vpc",
                max_azs=zone_count,
                nat_gateways=0,
                subnet_configuration=[
                    ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24)
                ],
            )
            vpc.add_flow_log("FlowLog")
            self.vpc = vpc
        self.endpoints: list[ec2.InterfaceVpcEndpoint] = []
        if create_endpoints:
            for name, service in (
                ("SecretsManager", ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER),
                ("Rds", ec2.InterfaceVpcEndpointAwsService.RDS),
            ):
                self.endpoints.append(
                    self.vpc.add_interface_endpoint(
                        f"{name}Endpoint", service=service, subnets=ISOLATED, private_dns_enabled=True, open=False
                    )
                )
