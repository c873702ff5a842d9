//! AWS, read-only: for each targeted RDS instance, its description and `max_connections`,
//! RDS events in the window, CloudWatch metrics, and CloudWatch alarms in ALARM on it; for
//! each ElastiCache replication group, its status, node roles, events and node metrics; and
//! AWS Health's open events for the region.
//! Credentials and region come from the SDK default chain (IRSA in Kubernetes).

use std::sync::Arc;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, StateValue};
use aws_sdk_rds::types::SourceType;
use aws_smithy_types::DateTime as AwsTime;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::{CollectError, Collected, Collector, Registered};
use crate::catalog::Targets;
use crate::config::Settings;
use crate::domain::{EvidenceItem, Series, Window};

pub struct AwsCollector {
    rds: aws_sdk_rds::Client,
    elasticache: aws_sdk_elasticache::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    pi: aws_sdk_pi::Client,
    /// AWS Health and the region whose open events it reads, when enabled.
    health: Option<(aws_sdk_health::Client, String)>,
}

/// The RDS metrics read for each instance, with the id suffix used in evidence ids.
const RDS_METRICS: [(&str, &str); 10] = [
    ("CPUUtilization", "cpu"),
    ("DatabaseConnections", "connections"),
    ("FreeableMemory", "freeable_memory"),
    ("FreeStorageSpace", "free_storage"),
    ("ReplicaLag", "replica_lag"),
    ("ReadLatency", "read_latency"),
    ("WriteLatency", "write_latency"),
    ("ReadIOPS", "read_iops"),
    ("WriteIOPS", "write_iops"),
    ("DiskQueueDepth", "disk_queue_depth"),
];

/// Read replicas of the targeted instances read beside them (their lag, their events).
const MAX_REPLICAS: usize = 3;

/// One instance as DescribeDBInstances gives it.
struct Described {
    items: Vec<EvidenceItem>,
    max_connections: Option<f64>,
    replicas: Vec<String>,
    /// The id Performance Insights knows the instance by (`db-…`), when PI is enabled.
    pi_resource: Option<String>,
}

impl AwsCollector {
    pub async fn register(settings: &Settings) -> Registered {
        if !settings.aws.enabled {
            return Registered::NotConfigured {
                name: "aws",
                reason: "aws.enabled is false".into(),
            };
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if !settings.aws.region.is_empty() {
            loader = loader.region(aws_config::Region::new(settings.aws.region.clone()));
        }
        if !settings.aws.endpoint_url.is_empty() {
            loader = loader.endpoint_url(settings.aws.endpoint_url.clone());
        }
        let config = loader.load().await;
        // AWS Health answers at its global endpoint in us-east-1, whatever the region read.
        let health_config = settings.aws.health.then(|| {
            let builder = config
                .to_builder()
                .region(aws_config::Region::new("us-east-1"));
            match settings.aws.health_endpoint_url.as_str() {
                "" => builder,
                url => builder.endpoint_url(url),
            }
            .build()
        });
        Self::from_sdk_configs(&config, health_config.as_ref())
    }

    /// Builds the collector from an SDK configuration (region, credentials, endpoint), without
    /// AWS Health.
    pub fn from_sdk_config(config: &aws_config::SdkConfig) -> Registered {
        Self::from_sdk_configs(config, None)
    }

    /// [`from_sdk_config`](Self::from_sdk_config), reading AWS Health through `health` (its
    /// own endpoint and region) for the region of `config`.
    pub fn from_sdk_configs(
        config: &aws_config::SdkConfig,
        health: Option<&aws_config::SdkConfig>,
    ) -> Registered {
        if config.region().is_none() {
            return Registered::NotConfigured {
                name: "aws",
                reason: "no region (aws.region, AWS_REGION or a profile)".into(),
            };
        }
        // Performance Insights in AWS JSON 1.1, the protocol its API reference documents.
        let pi = aws_sdk_pi::config::Builder::from(config)
            .protocol(aws_smithy_json::protocol::aws_json_rpc::AwsJsonRpcProtocol::aws_json_1_1())
            .build();
        let region = config.region().map(|r| r.to_string()).unwrap_or_default();
        let health = health.map(|h| (aws_sdk_health::Client::new(h), region));
        Registered::Ready(Arc::new(Self {
            rds: aws_sdk_rds::Client::new(config),
            elasticache: aws_sdk_elasticache::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            pi: aws_sdk_pi::Client::from_conf(pi),
            health,
        }))
    }

    /// An ElastiCache replication group: its status, failover setting and node roles, its
    /// events in the window, and EngineCPUUtilization, Evictions and CurrConnections of its
    /// member nodes (up to three).
    async fn elasticache_group(&self, id: &str, window: &Window) -> CacheReading {
        let mut warnings = Vec::new();
        let output = self
            .elasticache
            .describe_replication_groups()
            .replication_group_id(id)
            .send()
            .await
            .map_err(|e| {
                CollectError(format!(
                    "DescribeReplicationGroups {id}: {}",
                    aws_sdk_elasticache::error::DisplayErrorContext(&e)
                ))
            })?;
        let group = output
            .replication_groups()
            .first()
            .ok_or_else(|| CollectError(format!("replication group {id} not found")))?;
        let status = group.status().unwrap_or("unknown");
        let failover = group.automatic_failover().map_or("unknown", |f| f.as_str());
        let roles: Vec<String> = group
            .node_groups()
            .iter()
            .flat_map(|g| g.node_group_members())
            .map(|m| {
                format!(
                    "{} {}",
                    m.cache_cluster_id().unwrap_or("?"),
                    m.current_role().unwrap_or("member")
                )
            })
            .collect();
        let members: Vec<String> = group.member_clusters().to_vec();
        let mut items = vec![EvidenceItem {
            id: format!("aws.elasticache.{id}.group"),
            source: "aws".into(),
            kind: "cache_group".into(),
            at: None,
            summary: format!(
                "ElastiCache {id}: {status}, automatic failover {failover}, {} node(s){}",
                members.len(),
                if roles.is_empty() {
                    String::new()
                } else {
                    format!(": {}", roles.join(", "))
                }
            ),
            anomaly: if status == "available" { 0.1 } else { 0.7 },
            data: json!({
                "status": status,
                "automatic_failover": failover,
                "members": members,
                "roles": roles,
            }),
        }];
        let (events, metrics) = tokio::join!(
            self.elasticache
                .describe_events()
                .source_identifier(id)
                .source_type(aws_sdk_elasticache::types::SourceType::ReplicationGroup)
                .start_time(AwsTime::from_millis(window.start.timestamp_millis()))
                .end_time(AwsTime::from_millis(window.end.timestamp_millis()))
                .send(),
            self.cache_metrics(&members, window)
        );
        match events {
            Ok(output) => {
                for (n, event) in output.events().iter().enumerate() {
                    let message = event.message().unwrap_or("");
                    let lower = message.to_lowercase();
                    items.push(EvidenceItem {
                        id: format!("aws.elasticache.{id}.event.{n}"),
                        source: "aws".into(),
                        kind: "cache_event".into(),
                        at: event.date().and_then(to_chrono),
                        summary: format!("ElastiCache {id} event: {message}"),
                        anomaly: if lower.contains("failover")
                            || lower.contains("replac")
                            || lower.contains("reboot")
                        {
                            0.8
                        } else {
                            0.4
                        },
                        data: json!({"group": id, "message": message, "source": event.source_identifier()}),
                    });
                }
            }
            // The group's other readings stand without its events.
            Err(e) => warnings.push(format!(
                "DescribeEvents {id}: {}",
                aws_sdk_elasticache::error::DisplayErrorContext(&e)
            )),
        }
        match metrics {
            Ok(found) => items.extend(found),
            Err(e) => warnings.push(e.to_string()),
        }
        Ok((items, warnings))
    }

    /// The cache metrics of up to three member nodes (dimension `CacheClusterId`).
    async fn cache_metrics(
        &self,
        members: &[String],
        window: &Window,
    ) -> Result<Vec<EvidenceItem>, CollectError> {
        const CACHE_METRICS: [&str; 3] = ["EngineCPUUtilization", "Evictions", "CurrConnections"];
        let nodes: Vec<&String> = members.iter().take(3).collect();
        if nodes.is_empty() {
            return Ok(Vec::new());
        }
        let queries: Vec<(String, &str, MetricDataQuery)> = nodes
            .iter()
            .enumerate()
            .flat_map(|(n, node)| {
                CACHE_METRICS.iter().enumerate().map(move |(m, metric)| {
                    let stat = MetricStat::builder()
                        .metric(
                            Metric::builder()
                                .namespace("AWS/ElastiCache")
                                .metric_name(*metric)
                                .dimensions(
                                    Dimension::builder()
                                        .name("CacheClusterId")
                                        .value(node.as_str())
                                        .build(),
                                )
                                .build(),
                        )
                        .period(60)
                        .stat(if *metric == "Evictions" {
                            "Sum"
                        } else {
                            "Average"
                        })
                        .build();
                    (
                        node.to_string(),
                        *metric,
                        MetricDataQuery::builder()
                            .id(format!("c{n}_{m}"))
                            .metric_stat(stat)
                            .build(),
                    )
                })
            })
            .collect();
        let onset = window.onset.timestamp_millis();
        let mut items = Vec::new();
        let answers = self
            .metric_points(queries.iter().map(|q| q.2.clone()).collect(), window)
            .await?;
        for (query_id, points) in answers {
            let Some((node, metric, _)) =
                queries.iter().find(|q| q.2.id() == Some(query_id.as_str()))
            else {
                continue;
            };
            let Some(series) = Series::from_points(points, onset, 60) else {
                continue;
            };
            let baseline = series.baseline();
            let anomaly = match *metric {
                "EngineCPUUtilization" if series.max >= 90.0 => 0.85,
                "EngineCPUUtilization" => (series.max / 100.0).clamp(0.1, 0.7),
                "Evictions" if series.max > 0.0 && baseline.unwrap_or(0.0) == 0.0 => 0.75,
                _ => baseline
                    .filter(|b| *b > 0.0)
                    .map_or(0.2, |b| ((series.max / b - 1.0) / 3.0).clamp(0.1, 0.7)),
            };
            items.push(EvidenceItem {
                id: format!("aws.elasticache.{node}.{}", metric.to_lowercase()),
                source: "aws".into(),
                kind: "metric".into(),
                at: None,
                summary: format!(
                    "{node} {metric}: last {:.1}, max {:.1}{}",
                    series.last,
                    series.max,
                    baseline.map_or(String::new(), |b| format!(", before onset {b:.1}"))
                ),
                anomaly,
                data: json!({"metric": metric, "series": series, "baseline": baseline}),
            });
        }
        Ok(items)
    }

    /// AWS Health's open events in the region (and account-wide ones, region `global`): a
    /// regional impairment is evidence, not a guess.
    async fn health_events(&self) -> Result<Vec<EvidenceItem>, CollectError> {
        let Some((health, region)) = &self.health else {
            return Ok(Vec::new());
        };
        let filter = aws_sdk_health::types::EventFilter::builder()
            .regions(region.clone())
            .regions("global")
            .event_status_codes(aws_sdk_health::types::EventStatusCode::Open)
            .build();
        let output = health
            .describe_events()
            .filter(filter)
            .max_results(10)
            .send()
            .await
            .map_err(|e| {
                let e = aws_sdk_health::error::DisplayErrorContext(e).to_string();
                CollectError(if e.contains("SubscriptionRequired") {
                    "AWS Health needs a Business, Enterprise On-Ramp or Enterprise support plan \
                     (SubscriptionRequiredException)"
                        .into()
                } else {
                    format!("health: {e}")
                })
            })?;
        Ok(output
            .events()
            .iter()
            .map(|event| {
                let service = event.service().unwrap_or("AWS");
                let code = event.event_type_code().unwrap_or("event");
                let category = event
                    .event_type_category()
                    .map(|c| c.as_str().to_string())
                    .unwrap_or_default();
                let started = event.start_time().and_then(to_chrono);
                let arn_tail = event
                    .arn()
                    .and_then(|a| a.rsplit('/').next())
                    .unwrap_or(code);
                EvidenceItem {
                    id: format!("aws.health.{arn_tail}"),
                    source: "aws".into(),
                    kind: "health".into(),
                    at: started,
                    summary: format!(
                        "AWS Health: open {category} {code} for {service} in {}{}",
                        event.region().unwrap_or("the region"),
                        started.map_or(String::new(), |t| format!(
                            " since {}",
                            t.format("%Y-%m-%d %H:%M UTC")
                        ))
                    ),
                    anomaly: match category.as_str() {
                        "issue" => 0.8,
                        "scheduledChange" => 0.3,
                        _ => 0.2,
                    },
                    data: json!({
                        "service": service,
                        "event_type_code": code,
                        "category": category,
                        "region": event.region(),
                        "status": event.status_code().map(|s| s.as_str().to_string()),
                        "scope": event.event_scope_code().map(|s| s.as_str().to_string()),
                        "start": started,
                    }),
                }
            })
            .collect())
    }

    async fn instance(&self, id: &str) -> Result<Described, CollectError> {
        let output = self
            .rds
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
            .map_err(|e| {
                CollectError(format!(
                    "DescribeDBInstances: {}",
                    aws_sdk_rds::error::DisplayErrorContext(&e)
                ))
            })?;
        let Some(instance) = output.db_instances().first() else {
            return Err(CollectError(format!("RDS instance {id} not found")));
        };
        let parameter_group = instance
            .db_parameter_groups()
            .first()
            .and_then(|g| g.db_parameter_group_name())
            .map(str::to_string);
        let max_connections = match &parameter_group {
            Some(group) => self.max_connections(group).await?,
            None => None,
        };
        let status = instance.db_instance_status().unwrap_or("unknown");
        // A number, or the parameter group's formula evaluated for the instance class.
        let max_connections_value = max_connections
            .as_deref()
            .and_then(|v| resolve_max_connections(v, instance.db_instance_class()));
        let item = EvidenceItem {
            id: format!("aws.rds.{id}.instance"),
            source: "aws".into(),
            kind: "rds_instance".into(),
            at: None,
            summary: format!(
                "RDS {id}: {status}, {} {} {}, multi-AZ {}{}",
                instance.db_instance_class().unwrap_or("?"),
                instance.engine().unwrap_or("?"),
                instance.engine_version().unwrap_or(""),
                instance.multi_az().unwrap_or(false),
                max_connections
                    .as_ref()
                    .map_or(String::new(), |m| format!(", max_connections {m}"))
            ),
            anomaly: if status == "available" { 0.2 } else { 0.8 },
            data: json!({
                "status": status,
                "class": instance.db_instance_class(),
                "engine": instance.engine(),
                "engine_version": instance.engine_version(),
                "multi_az": instance.multi_az(),
                "parameter_group": parameter_group,
                "max_connections": max_connections,
                "max_connections_resolved": max_connections_value,
                "allocated_storage_gib": instance.allocated_storage(),
                "replica_of": instance.read_replica_source_db_instance_identifier(),
                "replicas": instance.read_replica_db_instance_identifiers(),
            }),
        };
        Ok(Described {
            items: vec![item],
            max_connections: max_connections_value,
            replicas: instance
                .read_replica_db_instance_identifiers()
                .iter()
                .map(|r| r.to_string())
                .collect(),
            pi_resource: instance
                .performance_insights_enabled()
                .unwrap_or(false)
                .then(|| instance.dbi_resource_id().map(str::to_string))
                .flatten(),
        })
    }

    /// `max_connections` from the parameter group: a number, or the formula when it does not
    /// resolve to one (`{DBInstanceClassMemory/9531392}`).
    async fn max_connections(&self, group: &str) -> Result<Option<String>, CollectError> {
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .rds
                .describe_db_parameters()
                .db_parameter_group_name(group)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| {
                    CollectError(format!(
                        "DescribeDBParameters: {}",
                        aws_sdk_rds::error::DisplayErrorContext(&e)
                    ))
                })?;
            if let Some(parameter) = page
                .parameters()
                .iter()
                .find(|p| p.parameter_name() == Some("max_connections"))
            {
                return Ok(parameter.parameter_value().map(str::to_string));
            }
            marker = page.marker().map(str::to_string);
            if marker.is_none() {
                return Ok(None);
            }
        }
    }

    async fn events(&self, id: &str, window: &Window) -> Result<Vec<EvidenceItem>, CollectError> {
        let output = self
            .rds
            .describe_events()
            .source_identifier(id)
            .source_type(SourceType::DbInstance)
            .start_time(AwsTime::from_millis(window.start.timestamp_millis()))
            .end_time(AwsTime::from_millis(window.end.timestamp_millis()))
            .send()
            .await
            .map_err(|e| {
                CollectError(format!(
                    "DescribeEvents: {}",
                    aws_sdk_rds::error::DisplayErrorContext(&e)
                ))
            })?;
        Ok(output
            .events()
            .iter()
            .enumerate()
            .map(|(index, event)| {
                rds_event_item(
                    id,
                    index,
                    event.message().unwrap_or(""),
                    event.date().and_then(to_chrono),
                    event.event_categories(),
                )
            })
            .collect())
    }

    async fn metrics(
        &self,
        id: &str,
        window: &Window,
        max_connections: Option<f64>,
    ) -> Result<Vec<EvidenceItem>, CollectError> {
        let queries: Vec<MetricDataQuery> = RDS_METRICS
            .iter()
            .enumerate()
            .map(|(index, (metric, _))| {
                let stat = MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace("AWS/RDS")
                            .metric_name(*metric)
                            .dimensions(
                                Dimension::builder()
                                    .name("DBInstanceIdentifier")
                                    .value(id)
                                    .build(),
                            )
                            .build(),
                    )
                    .period(60)
                    .stat("Average")
                    .build();
                MetricDataQuery::builder()
                    .id(format!("m{index}"))
                    .metric_stat(stat)
                    .build()
            })
            .collect();
        let onset = window.onset.timestamp_millis();
        let mut items = Vec::new();
        for (query_id, points) in self.metric_points(queries, window).await? {
            let Some((metric, _)) = query_id
                .strip_prefix('m')
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|index| RDS_METRICS.get(index))
            else {
                continue;
            };
            items.extend(rds_metric_item(id, metric, points, onset, max_connections));
        }
        Ok(items)
    }

    /// One GetMetricData call over the window: each query's id with its (ms, value) points.
    async fn metric_points(
        &self,
        queries: Vec<MetricDataQuery>,
        window: &Window,
    ) -> Result<Vec<(String, Vec<(i64, f64)>)>, CollectError> {
        let output = self
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(queries))
            // Whole minutes, so the 60 s buckets line up with clock minutes.
            .start_time(AwsTime::from_secs(
                window.start.timestamp() - window.start.timestamp() % 60,
            ))
            .end_time(AwsTime::from_millis(window.end.timestamp_millis()))
            .send()
            .await
            .map_err(|e| {
                CollectError(format!(
                    "GetMetricData: {}",
                    aws_sdk_cloudwatch::error::DisplayErrorContext(&e)
                ))
            })?;
        Ok(output
            .metric_data_results()
            .iter()
            .map(|result| {
                (
                    result.id().unwrap_or_default().to_string(),
                    result
                        .timestamps()
                        .iter()
                        .zip(result.values())
                        .filter_map(|(t, v)| Some((t.to_millis().ok()?, *v)))
                        .collect(),
                )
            })
            .collect())
    }

    /// Performance Insights over the window: DB load (average active sessions), the top
    /// waits and the top SQL by load.
    async fn performance_insights(
        &self,
        id: &str,
        resource: &str,
        window: &Window,
    ) -> Result<Vec<EvidenceItem>, CollectError> {
        use aws_sdk_pi::types::{DimensionGroup, MetricQuery, ServiceType};
        let error = |what: &str, e: &dyn std::fmt::Display| {
            CollectError(format!("Performance Insights {what}: {e}"))
        };
        let group = |name: &str| {
            DimensionGroup::builder()
                .group(name)
                .limit(5)
                .build()
                .map_err(|e| error("request", &e))
        };
        let query = |group: Option<DimensionGroup>| {
            MetricQuery::builder()
                .metric("db.load.avg")
                .set_group_by(group)
                .build()
                .map_err(|e| error("request", &e))
        };
        let (start, end) = (
            AwsTime::from_millis(window.start.timestamp_millis()),
            AwsTime::from_millis(window.end.timestamp_millis()),
        );
        let metrics = self
            .pi
            .get_resource_metrics()
            .service_type(ServiceType::Rds)
            .identifier(resource)
            .metric_queries(query(None)?)
            .metric_queries(query(Some(group("db.wait_event")?))?)
            .start_time(start)
            .end_time(end)
            .period_in_seconds(60)
            .send();
        let sql = self
            .pi
            .describe_dimension_keys()
            .service_type(ServiceType::Rds)
            .identifier(resource)
            .metric("db.load.avg")
            .group_by(group("db.sql")?)
            .start_time(start)
            .end_time(end)
            .send();
        let (metrics, sql) = tokio::join!(metrics, sql);
        let metrics = metrics.map_err(|e| {
            error(
                "GetResourceMetrics",
                &aws_sdk_pi::error::DisplayErrorContext(&e),
            )
        })?;
        let sql = sql.map_err(|e| {
            error(
                "DescribeDimensionKeys",
                &aws_sdk_pi::error::DisplayErrorContext(&e),
            )
        })?;
        let mut load = Vec::new();
        let mut waits = Vec::new();
        for series in metrics.metric_list() {
            let points: Vec<(i64, f64)> = series
                .data_points()
                .iter()
                .filter_map(|p| Some((p.timestamp().to_millis().ok()?, p.value())))
                .collect();
            match series
                .key()
                .and_then(|k| k.dimensions())
                .and_then(|d| d.get("db.wait_event.name"))
            {
                Some(wait) if !points.is_empty() => {
                    let mean = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
                    waits.push((wait.clone(), mean));
                }
                Some(_) => {}
                None => load = points,
            }
        }
        let top_sql: Vec<(String, f64)> = sql
            .keys()
            .iter()
            .filter_map(|k| {
                let dimensions = k.dimensions()?;
                let statement = dimensions
                    .get("db.sql.statement")
                    .or_else(|| dimensions.get("db.sql.tokenized_statement"))?;
                Some((statement.clone(), k.total().unwrap_or(0.0)))
            })
            .collect();
        Ok(performance_insights_item(id, &load, waits, top_sql)
            .into_iter()
            .collect())
    }

    async fn alarms(&self, ids: &[String]) -> Result<Vec<EvidenceItem>, CollectError> {
        let output = self
            .cloudwatch
            .describe_alarms()
            .state_value(StateValue::Alarm)
            .send()
            .await
            .map_err(|e| {
                CollectError(format!(
                    "DescribeAlarms: {}",
                    aws_sdk_cloudwatch::error::DisplayErrorContext(&e)
                ))
            })?;
        Ok(output
            .metric_alarms()
            .iter()
            .filter(|alarm| {
                alarm.dimensions().iter().any(|d| {
                    d.name() == Some("DBInstanceIdentifier")
                        && d.value().is_some_and(|v| ids.iter().any(|id| id == v))
                })
            })
            .map(|alarm| {
                let name = alarm.alarm_name().unwrap_or("alarm");
                EvidenceItem {
                    id: format!("aws.alarm.{name}"),
                    source: "aws".into(),
                    kind: "alarm".into(),
                    at: alarm.state_updated_timestamp().and_then(to_chrono),
                    summary: format!(
                        "CloudWatch alarm {name} in ALARM: {}",
                        alarm.state_reason().unwrap_or("")
                    ),
                    anomaly: 0.75,
                    data: json!({
                        "metric": alarm.metric_name(),
                        "threshold": alarm.threshold(),
                        "comparison": alarm.comparison_operator().map(|c| c.as_str().to_string()),
                        "reason": alarm.state_reason(),
                    }),
                }
            })
            .collect())
    }
}

/// The evidence item for one RDS metric series (millisecond timestamps), scored against its
/// own pre-onset baseline; `None` for an empty series.
pub(crate) fn rds_metric_item(
    id: &str,
    metric: &str,
    points: Vec<(i64, f64)>,
    onset_ms: i64,
    max_connections: Option<f64>,
) -> Option<EvidenceItem> {
    let suffix = RDS_METRICS
        .iter()
        .find(|(m, _)| *m == metric)
        .map_or_else(|| metric.to_lowercase(), |(_, s)| (*s).to_string());
    let series = Series::from_points(points, onset_ms, 60)?;
    let baseline = series.baseline();
    let (summary, anomaly) = describe_metric(id, metric, &series, baseline, max_connections);
    Some(EvidenceItem {
        id: format!("aws.rds.{id}.{suffix}"),
        source: "aws".into(),
        kind: "metric".into(),
        at: None,
        summary,
        anomaly,
        data: json!({ "metric": metric, "series": series, "baseline": baseline, "max_connections": max_connections }),
    })
}

/// The Performance Insights item: DB load against its start, the top waits and the top SQL
/// by load; `None` without a load series.
pub(crate) fn performance_insights_item(
    id: &str,
    load: &[(i64, f64)],
    mut waits: Vec<(String, f64)>,
    mut top_sql: Vec<(String, f64)>,
) -> Option<EvidenceItem> {
    let first = load.first()?.1;
    let max = load.iter().map(|p| p.1).fold(f64::MIN, f64::max);
    waits.sort_by(|a, b| b.1.total_cmp(&a.1));
    top_sql.sort_by(|a, b| b.1.total_cmp(&a.1));
    let named = |list: &[(String, f64)], width: usize| {
        list.iter()
            .take(3)
            .map(|(name, load)| {
                format!(
                    "\"{}\" {load:.1}",
                    name.chars().take(width).collect::<String>()
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let growth = if first > 0.0 { max / first } else { 1.0 };
    Some(EvidenceItem {
        id: format!("aws.rds.{id}.performance_insights"),
        source: "aws".into(),
        kind: "performance_insights".into(),
        at: None,
        summary: format!(
            "{id} DB load (Performance Insights): {first:.1} → max {max:.1} average active sessions; top waits: {}; top SQL: {}",
            named(&waits, 40),
            named(&top_sql, 120)
        ),
        anomaly: ((growth - 1.0) / 3.0).clamp(0.1, 0.8),
        data: json!({
            "db_load": load,
            "top_waits": waits.iter().take(5).map(|(n, l)| json!({"name": n, "db_load_avg": l})).collect::<Vec<_>>(),
            "top_sql": top_sql.iter().take(5).map(|(s, l)| json!({"statement": s, "db_load_avg": l})).collect::<Vec<_>>(),
        }),
    })
}

/// The evidence item for one RDS event; disruptive ones (failover, reboot, storage, …) score
/// high, except a change that waits for a reboot to take effect: nothing changed yet.
pub(crate) fn rds_event_item(
    id: &str,
    index: usize,
    message: &str,
    at: Option<DateTime<Utc>>,
    categories: &[String],
) -> EvidenceItem {
    let lower = message.to_lowercase();
    let disruptive = [
        "failover",
        "reboot",
        "restart",
        "parameter",
        "storage",
        "maintenance",
        "shutdown",
    ]
    .iter()
    .any(|w| lower.contains(w));
    let pending = lower.contains("to take effect") || lower.contains("pending-reboot");
    EvidenceItem {
        id: format!(
            "aws.rds.{id}.event.{}",
            at.map_or(index as i64, |t| t.timestamp())
        ),
        source: "aws".into(),
        kind: "rds_event".into(),
        at,
        summary: format!(
            "RDS event on {id}{}: {message}",
            at.map_or(String::new(), |t| format!(" at {}", t.format("%H:%M")))
        ),
        anomaly: match (disruptive, pending) {
            (_, true) => 0.3,
            (true, false) => 0.8,
            (false, false) => 0.4,
        },
        data: json!({ "message": message, "categories": categories, "date": at, "pending_reboot": pending }),
    }
}

fn describe_metric(
    id: &str,
    metric: &str,
    series: &Series,
    baseline: Option<f64>,
    max_connections: Option<f64>,
) -> (String, f64) {
    let base = baseline.map_or(String::new(), |b| format!(", before onset {b:.1}"));
    match metric {
        "CPUUtilization" => (
            format!(
                "{id} CPU: last {:.1}%, max {:.1}%{base}",
                series.last, series.max
            ),
            if series.max >= 90.0 {
                0.9
            } else if series.max >= 75.0 {
                0.6
            } else {
                0.2
            },
        ),
        "DatabaseConnections" => match max_connections.filter(|m| *m > 0.0) {
            Some(limit) => {
                let share = series.max / limit;
                (
                    format!(
                        "{id} connections: max {:.0} of max_connections {limit:.0} ({:.0}%){base}",
                        series.max,
                        share * 100.0
                    ),
                    if share >= 0.9 {
                        0.9
                    } else {
                        (share * 0.8).clamp(0.1, 0.7)
                    },
                )
            }
            None => (
                format!(
                    "{id} connections: last {:.0}, max {:.0}{base}",
                    series.last, series.max
                ),
                ratio_anomaly(series.max, baseline),
            ),
        },
        // Falling free space is the fault: read against the most there was.
        "FreeStorageSpace" => (
            format!(
                "{id} FreeStorageSpace: last {:.1} GiB, max {:.1} GiB{}",
                series.last / 1_073_741_824.0,
                series.max / 1_073_741_824.0,
                baseline.map_or(String::new(), |b| format!(
                    ", before onset {:.1} GiB",
                    b / 1_073_741_824.0
                ))
            ),
            if series.max > 0.0 && series.last <= 0.1 * series.max {
                0.9
            } else if baseline.is_some_and(|b| b > 0.0 && series.last < 0.5 * b) {
                0.6
            } else {
                0.2
            },
        ),
        "FreeableMemory" => (
            format!(
                "{id} freeable memory: last {:.0} MiB, min {:.0} MiB",
                series.last / 1_048_576.0,
                series.min / 1_048_576.0
            ),
            if baseline.is_some_and(|b| b > 0.0 && series.min < b * 0.3) {
                0.8
            } else {
                0.2
            },
        ),
        _ => (
            format!(
                "{id} {metric}: last {:.4}, max {:.4}{base}",
                series.last, series.max
            ),
            ratio_anomaly(series.max, baseline),
        ),
    }
}

fn ratio_anomaly(max: f64, baseline: Option<f64>) -> f64 {
    baseline
        .filter(|b| *b > 0.0)
        .map_or(0.2, |b| ((max / b - 1.0) / 3.0).clamp(0.1, 0.8))
}

fn to_chrono(time: &AwsTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(time.to_millis().ok()?)
}

#[async_trait]
impl Collector for AwsCollector {
    fn name(&self) -> &'static str {
        "aws"
    }

    async fn collect(&self, targets: &Targets, window: &Window) -> Result<Collected, CollectError> {
        // ElastiCache replication groups of the alert or the catalog, beside everything else.
        let caches =
            futures::future::join_all(
                targets.elasticache.iter().take(2).map(|id| async move {
                    (id.clone(), self.elasticache_group(id, window).await)
                }),
            );
        if targets.rds_instances.is_empty() {
            let mut collected = Collected::default();
            if targets.elasticache.is_empty() {
                collected.warnings.push(
                    "no RDS instance or ElastiCache group for this alert (tags \
                     dbinstanceidentifier / replication_group_id, or the service catalog)"
                        .into(),
                );
            }
            let (caches, health) = tokio::join!(caches, self.health_events());
            absorb_caches(&mut collected, caches);
            if self.health.is_some() {
                collected.absorb("health", health);
            }
            return Ok(collected);
        }
        let mut ids: Vec<String> = targets.rds_instances.iter().take(3).cloned().collect();
        let mut collected = Collected::default();
        let mut described: Vec<Result<Described, CollectError>> =
            futures::future::join_all(ids.iter().map(|id| self.instance(id))).await;
        // A lagging read replica is part of its primary's incident: read its replicas too.
        let replicas: Vec<String> = described
            .iter()
            .flatten()
            .flat_map(|d| d.replicas.iter())
            .filter(|r| !ids.contains(r))
            .take(MAX_REPLICAS)
            .cloned()
            .collect();
        described
            .extend(futures::future::join_all(replicas.iter().map(|id| self.instance(id))).await);
        ids.extend(replicas);
        let alarms = self.alarms(&ids);
        let per_instance =
            futures::future::join_all(ids.iter().zip(described).map(|(id, instance)| async move {
                let max_connections = instance.as_ref().ok().and_then(|d| d.max_connections);
                let pi_resource = instance.as_ref().ok().and_then(|d| d.pi_resource.clone());
                let (events, metrics, insights) = tokio::join!(
                    self.events(id, window),
                    self.metrics(id, window, max_connections),
                    async {
                        match &pi_resource {
                            Some(resource) => self.performance_insights(id, resource, window).await,
                            None => Ok(Vec::new()),
                        }
                    }
                );
                (
                    id.clone(),
                    instance.map(|d| d.items),
                    events,
                    metrics,
                    insights,
                )
            }));
        let (alarms, per_instance, health_events, caches) =
            tokio::join!(alarms, per_instance, self.health_events(), caches);
        absorb_caches(&mut collected, caches);
        let mut failures = 0;
        let mut parts = 0;
        for (id, instance, events, metrics, insights) in per_instance {
            for (part, result) in [
                ("instance", instance),
                ("events", events),
                ("metrics", metrics),
                ("performance insights", insights),
            ] {
                parts += 1;
                failures += usize::from(result.is_err());
                collected.absorb(&format!("{id} {part}"), result);
            }
        }
        parts += 1;
        failures += usize::from(alarms.is_err());
        collected.absorb("alarms", alarms);
        if self.health.is_some() {
            parts += 1;
            failures += usize::from(health_events.is_err());
            collected.absorb("health", health_events);
        }
        if failures == parts {
            return Err(CollectError(collected.warnings.join("; ")));
        }
        Ok(collected)
    }
}

/// One ElastiCache group's items and partial failures, or why none could be read.
type CacheReading = Result<(Vec<EvidenceItem>, Vec<String>), CollectError>;

/// Each ElastiCache group's items, and its partial failures as warnings.
fn absorb_caches(collected: &mut Collected, caches: Vec<(String, CacheReading)>) {
    for (id, result) in caches {
        match result {
            Ok((items, warnings)) => {
                collected.items.extend(items);
                collected.warnings.extend(
                    warnings
                        .into_iter()
                        .map(|w| format!("elasticache {id}: {w}")),
                );
            }
            Err(e) => collected.warnings.push(format!("elasticache {id}: {e}")),
        }
    }
}

/// Memory of an RDS instance class in GiB, from its family and size (`db.r6g.large` → 16):
/// burstable `t` classes by size, `m` 4 GiB per vCPU, `r` 8, `x` 16. `None` for a class not
/// covered, so a formula is left unresolved rather than guessed.
fn class_memory_gib(class: &str) -> Option<f64> {
    let mut parts = class.strip_prefix("db.")?.split('.');
    let (family, size) = (parts.next()?, parts.next()?);
    let vcpus: f64 = match size {
        "micro" | "small" | "medium" | "large" => 2.0,
        "xlarge" => 4.0,
        other => other.strip_suffix("xlarge")?.parse::<f64>().ok()? * 4.0,
    };
    match family.chars().next()? {
        't' => Some(match size {
            "micro" => 1.0,
            "small" => 2.0,
            "medium" => 4.0,
            "large" => 8.0,
            "xlarge" => 16.0,
            "2xlarge" => 32.0,
            _ => return None,
        }),
        'm' => Some(vcpus * 4.0),
        'r' => Some(vcpus * 8.0),
        'x' => Some(vcpus * 16.0),
        _ => None,
    }
}

/// `max_connections` as RDS gives it: a number, or a formula over `DBInstanceClassMemory`
/// (`LEAST({DBInstanceClassMemory/9531392},5000)`), evaluated with the class's memory.
pub(crate) fn resolve_max_connections(value: &str, class: Option<&str>) -> Option<f64> {
    let value = value.trim();
    if let Ok(number) = value.parse::<f64>() {
        return Some(number);
    }
    let memory = class_memory_gib(class?)? * 1_073_741_824.0;
    let mut formula = Formula {
        text: value.as_bytes(),
        at: 0,
        memory,
    };
    let result = formula.expression()?;
    (formula.at == formula.text.len() && result.is_finite() && result > 0.0).then(|| result.floor())
}

/// A recursive-descent reader of RDS parameter formulas: `LEAST(…)`, `GREATEST(…)`, `{…}`
/// holding `DBInstanceClassMemory` or numbers joined by `*` and `/`, and plain numbers.
struct Formula<'a> {
    text: &'a [u8],
    at: usize,
    memory: f64,
}

impl Formula<'_> {
    fn skip_spaces(&mut self) {
        while self.text.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_spaces();
        let matches = self.text[self.at..]
            .get(..token.len())
            .is_some_and(|t| t.eq_ignore_ascii_case(token.as_bytes()));
        if matches {
            self.at += token.len();
        }
        matches
    }

    fn expression(&mut self) -> Option<f64> {
        for (name, pick) in [
            ("LEAST", f64::min as fn(f64, f64) -> f64),
            ("GREATEST", f64::max),
        ] {
            if self.eat(name) {
                if !self.eat("(") {
                    return None;
                }
                let mut value = self.expression()?;
                while self.eat(",") {
                    value = pick(value, self.expression()?);
                }
                return self.eat(")").then_some(value);
            }
        }
        if self.eat("{") {
            let mut value = self.operand()?;
            loop {
                if self.eat("*") {
                    value *= self.operand()?;
                } else if self.eat("/") {
                    let divisor = self.operand()?;
                    if divisor == 0.0 {
                        return None;
                    }
                    value /= divisor;
                } else {
                    break;
                }
            }
            return self.eat("}").then_some(value);
        }
        self.number()
    }

    fn operand(&mut self) -> Option<f64> {
        if self.eat("DBInstanceClassMemory") {
            Some(self.memory)
        } else {
            self.number()
        }
    }

    fn number(&mut self) -> Option<f64> {
        self.skip_spaces();
        let start = self.at;
        while self
            .text
            .get(self.at)
            .is_some_and(|c| c.is_ascii_digit() || *c == b'.')
        {
            self.at += 1;
        }
        std::str::from_utf8(&self.text[start..self.at])
            .ok()?
            .parse()
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_waiting_for_a_reboot_is_not_a_disruption_yet() {
        let item = |message: &str| rds_event_item("db1", 0, message, None, &[]);
        let pending = item(
            "DB parameter group db1-pg applied. The DB instance needs to be rebooted for the changes to take effect.",
        );
        assert_eq!(
            (pending.anomaly, &pending.data["pending_reboot"]),
            (0.3, &json!(true))
        );
        assert_eq!(item("Multi-AZ instance failover completed").anomaly, 0.8);
        assert_eq!(
            item("Finished applying modification to DB parameter group").anomaly,
            0.8
        );
        assert_eq!(item("Automated backup finished").anomaly, 0.4);
    }

    #[test]
    fn free_storage_reads_in_gib_baseline_included() {
        let gib = 1_073_741_824.0;
        let series =
            Series::from_points(vec![(0, 200.0 * gib), (60_000, 12.0 * gib)], 60_000, 60).unwrap();
        let (summary, anomaly) =
            describe_metric("db1", "FreeStorageSpace", &series, Some(200.0 * gib), None);
        assert_eq!(
            summary,
            "db1 FreeStorageSpace: last 12.0 GiB, max 200.0 GiB, before onset 200.0 GiB"
        );
        assert_eq!(anomaly, 0.9);
    }

    #[test]
    fn max_connections_formulas_resolve_for_the_instance_class() {
        assert_eq!(resolve_max_connections("500", None), Some(500.0));
        // The PostgreSQL default on a 16 GiB class: 17179869184 / 9531392.
        assert_eq!(
            resolve_max_connections(
                "LEAST({DBInstanceClassMemory/9531392},5000)",
                Some("db.r6g.large")
            ),
            Some(1802.0)
        );
        assert_eq!(
            resolve_max_connections(
                "LEAST({DBInstanceClassMemory/9531392},5000)",
                Some("db.r6g.4xlarge")
            ),
            Some(5000.0),
            "capped by LEAST"
        );
        assert_eq!(
            resolve_max_connections("{DBInstanceClassMemory/12582880}", Some("db.t3.medium")),
            Some(341.0)
        );
        assert_eq!(
            resolve_max_connections(
                "GREATEST({DBInstanceClassMemory*2/25165760}, 100)",
                Some("db.m5.xlarge")
            ),
            Some(1365.0)
        );
        // Unknown classes and malformed formulas stay unresolved, never guessed.
        assert_eq!(
            resolve_max_connections("{DBInstanceClassMemory/9531392}", Some("db.z9.huge")),
            None
        );
        assert_eq!(
            resolve_max_connections("LEAST({DBInstanceClassMemory/0},5)", Some("db.r6g.large")),
            None
        );
        assert_eq!(
            resolve_max_connections(
                "LEAST({DBInstanceClassMemory/9531392}",
                Some("db.r6g.large")
            ),
            None
        );
        assert_eq!(
            resolve_max_connections("{DBInstanceClassMemory/9531392}", None),
            None
        );
    }
}
