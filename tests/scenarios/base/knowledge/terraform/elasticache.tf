# ElastiCache Redis clusters. Each has one primary and one replica with automatic failover.

resource "aws_elasticache_subnet_group" "cache" {
  name       = "prod-cache"
  subnet_ids = var.cache_subnet_ids
}

resource "aws_elasticache_parameter_group" "redis7" {
  name   = "prod-redis7"
  family = "redis7"

  parameter {
    name  = "maxmemory-policy"
    value = "volatile-lru"
  }
}

resource "aws_elasticache_replication_group" "sessions" {
  replication_group_id       = "redis-sessions"
  description                = "matchmaking sessions and party state (matchmaker, session-broker)"
  engine                     = "redis"
  engine_version             = "7.1"
  node_type                  = "cache.r6g.xlarge"
  num_cache_clusters         = 2
  automatic_failover_enabled = true
  multi_az_enabled           = true
  port                       = 6379
  parameter_group_name       = aws_elasticache_parameter_group.redis7.name
  subnet_group_name          = aws_elasticache_subnet_group.cache.name
}

resource "aws_elasticache_replication_group" "leaderboard" {
  replication_group_id       = "redis-leaderboard"
  description                = "global and seasonal leaderboards (game-api)"
  engine                     = "redis"
  engine_version             = "7.1"
  node_type                  = "cache.r6g.large"
  num_cache_clusters         = 2
  automatic_failover_enabled = true
  port                       = 6379
  parameter_group_name       = "default.redis7"
  subnet_group_name          = aws_elasticache_subnet_group.cache.name
}

resource "aws_elasticache_replication_group" "presence" {
  replication_group_id       = "redis-presence"
  description                = "online presence for chat-gateway"
  engine                     = "redis"
  engine_version             = "7.1"
  node_type                  = "cache.r6g.large"
  num_cache_clusters         = 2
  automatic_failover_enabled = true
  port                       = 6379
  subnet_group_name          = aws_elasticache_subnet_group.cache.name
}

resource "aws_elasticache_replication_group" "history" {
  replication_group_id       = "redis-history"
  description                = "recent match history cache (match-history); listens on 6379"
  engine                     = "redis"
  engine_version             = "7.1"
  node_type                  = "cache.r6g.large"
  num_cache_clusters         = 2
  automatic_failover_enabled = true
  port                       = 6379
  subnet_group_name          = aws_elasticache_subnet_group.cache.name
}

resource "aws_security_group_rule" "history_from_eks" {
  type                     = "ingress"
  from_port                = 6379
  to_port                  = 6379
  protocol                 = "tcp"
  security_group_id        = var.cache_security_group_id
  source_security_group_id = module.eks.node_security_group_id
  description              = "match-history pods to redis-history"
}
