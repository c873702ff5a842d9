# The production EKS cluster and its node groups.

module "eks" {
  source          = "terraform-aws-modules/eks/aws"
  version         = "20.8.5"
  cluster_name    = "prod-eu-1"
  cluster_version = "1.30"
  subnet_ids      = var.private_subnet_ids
}

resource "aws_eks_node_group" "general" {
  cluster_name    = module.eks.cluster_name
  node_group_name = "general"
  instance_types  = ["m7g.2xlarge"]
  scaling_config {
    min_size     = 6
    desired_size = 12
    max_size     = 40
  }
  labels = { workload = "general" }
}

resource "aws_eks_node_group" "game" {
  cluster_name    = module.eks.cluster_name
  node_group_name = "game"
  instance_types  = ["c7g.4xlarge"]
  scaling_config {
    min_size     = 10
    desired_size = 20
    max_size     = 80
  }
  labels = { workload = "game-api" }
  taint {
    key    = "dedicated"
    value  = "game"
    effect = "NO_SCHEDULE"
  }
}

resource "aws_eks_node_group" "media" {
  cluster_name    = module.eks.cluster_name
  node_group_name = "media"
  instance_types  = ["r7g.2xlarge"]
  scaling_config {
    min_size     = 2
    desired_size = 4
    max_size     = 12
  }
  labels = { workload = "replay-encoder" }
}

resource "aws_eks_addon" "coredns" {
  cluster_name  = module.eks.cluster_name
  addon_name    = "coredns"
  addon_version = "v1.11.1-eksbuild.9"
  configuration_values = jsonencode({
    replicaCount = 2
    resources    = { limits = { memory = "170Mi" }, requests = { cpu = "100m", memory = "70Mi" } }
  })
}

resource "aws_iam_role" "triaged" {
  name               = "triaged-readonly"
  assume_role_policy = data.aws_iam_policy_document.triaged_assume.json
}

data "aws_iam_policy_document" "triaged_assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [module.eks.oidc_provider_arn]
    }
  }
}
