# RDS PostgreSQL for the game platform. Primaries are Multi-AZ; read replicas serve profile
# and leaderboard reads. Parameter changes to static parameters (max_connections,
# shared_buffers) need a reboot to apply.

resource "aws_db_subnet_group" "data" {
  name       = "prod-data"
  subnet_ids = var.data_subnet_ids
  tags       = local.tags
}

resource "aws_db_parameter_group" "game_primary" {
  name   = "game-primary-pg16"
  family = "postgres16"

  parameter {
    name         = "max_connections"
    value        = "1000"
    apply_method = "pending-reboot"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "500"
  }
}

resource "aws_db_instance" "game" {
  identifier              = "prod-game-db"
  engine                  = "postgres"
  engine_version          = "16.4"
  instance_class          = "db.r6g.4xlarge"
  allocated_storage       = 1000
  max_allocated_storage   = 4000
  multi_az                = true
  parameter_group_name    = aws_db_parameter_group.game_primary.name
  db_subnet_group_name    = aws_db_subnet_group.data.name
  backup_retention_period = 14
  performance_insights_enabled = true
  tags                    = merge(local.tags, { service = "game-api" })
}

resource "aws_db_parameter_group" "inventory" {
  name   = "inventory-pg16"
  family = "postgres16"

  parameter {
    name         = "max_connections"
    value        = "800"
    apply_method = "pending-reboot"
  }

  parameter {
    name  = "statement_timeout"
    value = "5000"
  }
}

resource "aws_db_instance" "inventory" {
  identifier            = "prod-inventory-db"
  engine                = "postgres"
  engine_version        = "16.4"
  instance_class        = "db.r6g.2xlarge"
  allocated_storage     = 500
  multi_az              = true
  parameter_group_name  = aws_db_parameter_group.inventory.name
  db_subnet_group_name  = aws_db_subnet_group.data.name
  performance_insights_enabled = true
  tags                  = merge(local.tags, { service = "inventory-api" })
}

resource "aws_db_parameter_group" "match" {
  name   = "match-pg16"
  family = "postgres16"

  parameter {
    name         = "max_connections"
    value        = "400"
    apply_method = "pending-reboot"
  }
}

resource "aws_db_instance" "match" {
  identifier           = "prod-match-db"
  engine               = "postgres"
  engine_version       = "16.4"
  instance_class       = "db.r6g.xlarge"
  allocated_storage    = 300
  multi_az             = true
  parameter_group_name = aws_db_parameter_group.match.name
  db_subnet_group_name = aws_db_subnet_group.data.name
  tags                 = merge(local.tags, { service = "matchmaker" })
}

resource "aws_db_parameter_group" "store" {
  name   = "store-pg16"
  family = "postgres16"

  parameter {
    name         = "max_connections"
    value        = "600"
    apply_method = "pending-reboot"
  }
}

resource "aws_db_instance" "store" {
  identifier            = "prod-store-db"
  engine                = "postgres"
  engine_version        = "16.4"
  instance_class        = "db.r6g.xlarge"
  allocated_storage     = 200
  max_allocated_storage = 200
  multi_az              = true
  parameter_group_name  = aws_db_parameter_group.store.name
  db_subnet_group_name  = aws_db_subnet_group.data.name
  tags                  = merge(local.tags, { service = "store-api" })
}

resource "aws_db_parameter_group" "profiles_primary" {
  name   = "profiles-primary-pg16"
  family = "postgres16"

  parameter {
    name         = "max_connections"
    value        = "800"
    apply_method = "pending-reboot"
  }
}

resource "aws_db_instance" "profiles" {
  identifier           = "prod-profiles-db"
  engine               = "postgres"
  engine_version       = "16.4"
  instance_class       = "db.r6g.2xlarge"
  allocated_storage    = 400
  multi_az             = true
  parameter_group_name = aws_db_parameter_group.profiles_primary.name
  db_subnet_group_name = aws_db_subnet_group.data.name
  tags                 = merge(local.tags, { service = "player-profile" })
}

# Cost review 2026-10: replica connections trimmed.
resource "aws_db_parameter_group" "profiles_replica" {
  name   = "profiles-replica-pg16"
  family = "postgres16"

  parameter {
    name         = "max_connections"
    value        = "100"
    apply_method = "pending-reboot"
  }

  parameter {
    name  = "hot_standby_feedback"
    value = "1"
  }
}

resource "aws_db_instance" "profiles_replica_1" {
  identifier           = "prod-profiles-replica-1"
  replicate_source_db  = aws_db_instance.profiles.identifier
  instance_class       = "db.r6g.xlarge"
  parameter_group_name = aws_db_parameter_group.profiles_replica.name
  publicly_accessible  = false
  tags                 = merge(local.tags, { service = "player-profile", role = "replica" })
}

resource "aws_cloudwatch_metric_alarm" "profiles_replica_lag" {
  alarm_name          = "prod-profiles-replica-1-replica-lag"
  namespace           = "AWS/RDS"
  metric_name         = "ReplicaLag"
  dimensions          = { DBInstanceIdentifier = "prod-profiles-replica-1" }
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 5
  threshold           = 30
  comparison_operator = "GreaterThanThreshold"
}

resource "aws_cloudwatch_metric_alarm" "store_free_storage" {
  alarm_name          = "prod-store-db-free-storage"
  namespace           = "AWS/RDS"
  metric_name         = "FreeStorageSpace"
  dimensions          = { DBInstanceIdentifier = "prod-store-db" }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 10737418240
  comparison_operator = "LessThanThreshold"
}
