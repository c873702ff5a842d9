# events-kafka: the MSK cluster for player and match events (telemetry-ingest consumes).

resource "aws_msk_configuration" "events" {
  name           = "events-kafka-3-6"
  kafka_versions = ["3.6.0"]
  server_properties = <<-PROPS
    auto.create.topics.enable=false
    default.replication.factor=3
    min.insync.replicas=2
    num.partitions=48
    log.retention.hours=72
  PROPS
}

resource "aws_msk_cluster" "events" {
  cluster_name           = "events-kafka"
  kafka_version          = "3.6.0"
  number_of_broker_nodes = 6

  broker_node_group_info {
    instance_type   = "kafka.m7g.xlarge"
    client_subnets  = var.data_subnet_ids
    security_groups = [var.kafka_security_group_id]

    storage_info {
      ebs_storage_info {
        volume_size = 2000
        provisioned_throughput {
          enabled           = true
          volume_throughput = 250
        }
      }
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.events.arn
    revision = aws_msk_configuration.events.latest_revision
  }
}

resource "aws_cloudwatch_metric_alarm" "events_broker_disk" {
  alarm_name          = "events-kafka-broker-volume-queue"
  namespace           = "AWS/Kafka"
  metric_name         = "VolumeQueueLength"
  dimensions          = { "Cluster Name" = "events-kafka" }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  threshold           = 20
  comparison_operator = "GreaterThanThreshold"
}
