//! The AWS collector against a real local AWS API (`moto_server` from PyPI `moto[server]`),
//! seeded through the real SDK clients.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, MetricDatum, StandardUnit, StateValue, Statistic,
};
use aws_smithy_types::DateTime as AwsTime;
use chrono::Utc;
use triaged::collectors::aws::AwsCollector;
use triaged::collectors::{Deadlines, collect_with_deadline};
use triaged::domain::{EvidenceBundle, SourceStatus, Targets, Window};

/// A moto_server on a free port, stopped on drop.
struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_moto() -> Option<Moto> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = match Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(error) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED: moto_server unavailable ({error}); pip install 'moto[server]'");
            return None;
        }
        Err(error) => panic!("CI requires moto_server: {error}"),
    };
    let moto = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..200 {
        if reqwest::get(format!("{}/moto-api/", moto.url))
            .await
            .is_ok()
        {
            return Some(moto);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("moto_server did not start");
}

async fn sdk_config(url: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .endpoint_url(url)
        .credentials_provider(aws_sdk_rds::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
}

/// Runs the AWS collector alone, for one RDS instance.
async fn collect_rds(config: &SdkConfig, instance: &str, window: &Window) -> EvidenceBundle {
    let targets = Targets {
        rds_instances: vec![instance.into()],
        ..Targets::default()
    };
    collect(AwsCollector::from_sdk_config(config), &targets, window).await
}

/// Runs one AWS collector alone for `targets`, under generous deadlines.
async fn collect(
    collector: triaged::collectors::Registered,
    targets: &Targets,
    window: &Window,
) -> EvidenceBundle {
    let deadlines = Deadlines {
        per_source: Duration::from_secs(20),
        overall: Duration::from_secs(25),
    };
    collect_with_deadline(&[collector], targets, window, deadlines, 24_000).await
}

fn dimension(instance: &str) -> Dimension {
    Dimension::builder()
        .name("DBInstanceIdentifier")
        .value(instance)
        .build()
}

async fn seed(config: &SdkConfig, window: &Window) {
    let rds = aws_sdk_rds::Client::new(config);
    rds.create_db_parameter_group()
        .db_parameter_group_name("prod-pg15")
        .db_parameter_group_family("postgres15")
        .description("production postgres 15")
        .send()
        .await
        .expect("parameter group");
    rds.modify_db_parameter_group()
        .db_parameter_group_name("prod-pg15")
        .parameters(
            aws_sdk_rds::types::Parameter::builder()
                .parameter_name("max_connections")
                .parameter_value("100")
                .apply_method(aws_sdk_rds::types::ApplyMethod::PendingReboot)
                .build(),
        )
        .send()
        .await
        .expect("max_connections");
    rds.create_db_instance()
        .db_instance_identifier("prod-postgres-primary")
        .db_instance_class("db.r6g.xlarge")
        .engine("postgres")
        .engine_version("15.5")
        .db_parameter_group_name("prod-pg15")
        .master_username("checkout")
        .master_user_password("not-a-real-password")
        .allocated_storage(200)
        .multi_az(true)
        .send()
        .await
        .expect("db instance");

    let cloudwatch = aws_sdk_cloudwatch::Client::new(config);
    // CloudWatch buckets by whole minutes: values change from the minute after the onset's.
    let floor = |t: chrono::DateTime<Utc>| t - chrono::Duration::seconds(t.timestamp() % 60);
    for minute in 0..35 {
        let at = floor(window.start) + chrono::Duration::minutes(minute);
        let after = at > floor(window.onset);
        let datum = |name: &str, value: f64, unit: StandardUnit| {
            MetricDatum::builder()
                .metric_name(name)
                .dimensions(dimension("prod-postgres-primary"))
                .timestamp(AwsTime::from_millis(at.timestamp_millis()))
                .value(value)
                .unit(unit)
                .build()
        };
        cloudwatch
            .put_metric_data()
            .namespace("AWS/RDS")
            .metric_data(datum(
                "CPUUtilization",
                if after { 97.0 } else { 34.0 },
                StandardUnit::Percent,
            ))
            .metric_data(datum(
                "DatabaseConnections",
                if after { 98.0 } else { 41.0 },
                StandardUnit::Count,
            ))
            .send()
            .await
            .expect("metric data");
    }
    for (name, instance) in [
        ("prod-postgres-primary-cpu-high", "prod-postgres-primary"),
        ("analytics-replica-lag", "analytics-replica"),
    ] {
        cloudwatch
            .put_metric_alarm()
            .alarm_name(name)
            .namespace("AWS/RDS")
            .metric_name("CPUUtilization")
            .dimensions(dimension(instance))
            .statistic(Statistic::Average)
            .period(60)
            .evaluation_periods(3)
            .threshold(90.0)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .send()
            .await
            .expect("alarm");
        cloudwatch
            .set_alarm_state()
            .alarm_name(name)
            .state_value(StateValue::Alarm)
            .state_reason("Threshold Crossed: 3 datapoints [97.1, 96.8, 97.4] were greater than the threshold (90.0).")
            .send()
            .await
            .expect("alarm state");
    }
}

#[tokio::test]
async fn aws_reads_the_rds_instance_metrics_and_alarms_through_the_real_sdk() {
    let Some(moto) = start_moto().await else {
        return;
    };
    let config = sdk_config(&moto.url).await;
    let window = crate::helpers::window_ending_now();
    seed(&config, &window).await;

    let bundle = collect_rds(&config, "prod-postgres-primary", &window).await;
    let report = &bundle.reports[0];
    assert_eq!(report.status, SourceStatus::Ok, "{report:?}");

    let instance = bundle
        .item("aws.rds.prod-postgres-primary.instance")
        .expect("instance");
    assert!(
        instance.summary.contains("db.r6g.xlarge") && instance.summary.contains("postgres"),
        "{}",
        instance.summary
    );
    assert!(
        instance.summary.contains("multi-AZ true"),
        "{}",
        instance.summary
    );
    assert!(
        instance.summary.contains("max_connections 100"),
        "{}",
        instance.summary
    );

    let cpu = bundle
        .item("aws.rds.prod-postgres-primary.cpu")
        .expect("cpu metric");
    assert!(
        cpu.summary.contains("max 97.0%") && cpu.summary.contains("before onset 34.0"),
        "{}",
        cpu.summary
    );
    assert!(cpu.anomaly >= 0.9);
    let connections = bundle
        .item("aws.rds.prod-postgres-primary.connections")
        .expect("connections");
    assert!(
        connections
            .summary
            .contains("max 98 of max_connections 100 (98%)"),
        "{}",
        connections.summary
    );

    let event = bundle
        .items
        .iter()
        .find(|i| i.kind == "rds_event")
        .expect("RDS events are read");
    assert!(
        event.id.starts_with("aws.rds.prod-postgres-primary.event."),
        "{}",
        event.id
    );
    assert_eq!(report.message, None, "every AWS call succeeded: {report:?}");

    let alarm = bundle
        .item("aws.alarm.prod-postgres-primary-cpu-high")
        .expect("alarm in ALARM");
    assert!(alarm.summary.contains("Threshold Crossed"));
    assert!(
        bundle.item("aws.alarm.analytics-replica-lag").is_none(),
        "alarms on other instances are left out"
    );
}

#[tokio::test]
async fn aws_reports_an_unknown_instance_without_failing_the_rest() {
    let Some(moto) = start_moto().await else {
        return;
    };
    let config = sdk_config(&moto.url).await;
    let onset = Utc::now();
    let window = Window {
        start: onset - chrono::Duration::minutes(30),
        onset,
        end: onset,
    };
    let bundle = collect_rds(&config, "no-such-db", &window).await;
    let report = &bundle.reports[0];
    let message = report.message.clone().unwrap_or_default();
    assert!(message.contains("no-such-db instance"), "{report:?}");
    assert!(message.contains("DBInstanceNotFound"), "{report:?}");
}

/// AWS Health as its API reference documents it (AWS JSON 1.1: a POST with
/// `X-Amz-Target: AWSHealth_20160804.DescribeEvents`), including its error shape.
async fn fake_health(reply: wiremock::ResponseTemplate) -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::header(
            "x-amz-target",
            "AWSHealth_20160804.DescribeEvents",
        ))
        .and(wiremock::matchers::body_partial_json(serde_json::json!({
            "filter": {"regions": ["eu-west-1", "global"], "eventStatusCodes": ["open"]}
        })))
        .respond_with(reply)
        .mount(&server)
        .await;
    server
}

async fn collect_health(health_url: &str) -> EvidenceBundle {
    let main = sdk_config("http://127.0.0.1:9").await;
    let health = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(health_url)
        .credentials_provider(aws_sdk_rds::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    let window = Window {
        start: Utc::now() - chrono::Duration::minutes(30),
        onset: Utc::now(),
        end: Utc::now() + chrono::Duration::minutes(5),
    };
    collect(
        AwsCollector::from_sdk_configs(&main, Some(&health)),
        &Targets::default(),
        &window,
    )
    .await
}

#[tokio::test]
async fn aws_health_open_issues_in_the_region_are_evidence() {
    let started = (Utc::now() - chrono::Duration::minutes(40)).timestamp() as f64;
    let health = fake_health(
        wiremock::ResponseTemplate::new(200)
            .insert_header("content-type", "application/x-amz-json-1.1")
            .set_body_json(serde_json::json!({"events": [{
                "arn": "arn:aws:health:eu-west-1::event/RDS/AWS_RDS_OPERATIONAL_ISSUE/AWS_RDS_OPERATIONAL_ISSUE_ABC123",
                "service": "RDS",
                "eventTypeCode": "AWS_RDS_OPERATIONAL_ISSUE",
                "eventTypeCategory": "issue",
                "region": "eu-west-1",
                "availabilityZone": "eu-west-1b",
                "startTime": started,
                "lastUpdatedTime": started + 600.0,
                "statusCode": "open",
                "eventScopeCode": "PUBLIC"
            }]})),
    )
    .await;
    let bundle = collect_health(&health.uri()).await;
    let item = bundle
        .item("aws.health.AWS_RDS_OPERATIONAL_ISSUE_ABC123")
        .unwrap_or_else(|| panic!("{:?} {:?}", bundle.items, bundle.reports));
    assert!(
        item.summary.starts_with(
            "AWS Health: open issue AWS_RDS_OPERATIONAL_ISSUE for RDS in eu-west-1 since"
        ),
        "{}",
        item.summary
    );
    assert!(item.anomaly >= 0.8);
    let signals = triaged::signals::derive(&bundle, &[]);
    assert!(
        signals
            .iter()
            .any(|s| s.entity == "external/aws-rds-eu-west-1"
                && s.category == triaged::domain::Category::InfrastructureFailure),
        "{signals:?}"
    );
}

#[tokio::test]
async fn aws_health_without_a_support_plan_says_so_and_is_not_an_outage() {
    let health = fake_health(
        wiremock::ResponseTemplate::new(400)
            .insert_header("content-type", "application/x-amz-json-1.1")
            .set_body_json(serde_json::json!({
                "__type": "SubscriptionRequiredException",
                "message": "The requested resource requires a subscription"
            })),
    )
    .await;
    let bundle = collect_health(&health.uri()).await;
    let report = &bundle.reports[0];
    assert_eq!(report.status, SourceStatus::Ok, "{report:?}");
    let message = report.message.clone().unwrap_or_default();
    assert!(
        message.contains(
            "health: AWS Health needs a Business, Enterprise On-Ramp or Enterprise support plan"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn aws_reads_an_elasticache_group_and_its_node_metrics_through_the_real_sdk() {
    let Some(moto) = start_moto().await else {
        return;
    };
    let config = sdk_config(&moto.url).await;
    let window = crate::helpers::window_ending_now();
    let elasticache = aws_sdk_elasticache::Client::new(&config);
    let created = elasticache
        .create_replication_group()
        .replication_group_id("sessions-redis")
        .replication_group_description("sessions")
        .engine("redis")
        .cache_node_type("cache.r6g.large")
        .num_cache_clusters(2)
        .automatic_failover_enabled(true)
        .send()
        .await
        .expect("replication group");
    let node = created
        .replication_group()
        .and_then(|g| g.member_clusters().first().cloned())
        .expect("a member node");
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
    let floor = |t: chrono::DateTime<Utc>| t - chrono::Duration::seconds(t.timestamp() % 60);
    for minute in 0..35 {
        let at = floor(window.start) + chrono::Duration::minutes(minute);
        let after = at > floor(window.onset);
        cloudwatch
            .put_metric_data()
            .namespace("AWS/ElastiCache")
            .metric_data(
                MetricDatum::builder()
                    .metric_name("EngineCPUUtilization")
                    .dimensions(
                        Dimension::builder()
                            .name("CacheClusterId")
                            .value(&node)
                            .build(),
                    )
                    .timestamp(AwsTime::from_millis(at.timestamp_millis()))
                    .value(if after { 96.0 } else { 22.0 })
                    .unit(StandardUnit::Percent)
                    .build(),
            )
            .send()
            .await
            .expect("metric data");
    }
    let targets = Targets {
        elasticache: vec!["sessions-redis".into()],
        ..Targets::default()
    };
    let bundle = collect(AwsCollector::from_sdk_config(&config), &targets, &window).await;
    let group = bundle
        .item("aws.elasticache.sessions-redis.group")
        .unwrap_or_else(|| panic!("{:?} {:?}", bundle.items, bundle.reports));
    assert!(
        group.summary.starts_with("ElastiCache sessions-redis: ")
            && group.summary.contains("automatic failover enabled")
            && group.summary.contains(&format!("{node} primary")),
        "{}",
        group.summary
    );
    let cpu = bundle
        .item(&format!("aws.elasticache.{node}.enginecpuutilization"))
        .unwrap_or_else(|| panic!("{:?}", bundle.items));
    assert!(
        cpu.summary.contains("max 96.0") && cpu.summary.contains("before onset 22.0"),
        "{}",
        cpu.summary
    );
    assert!(cpu.anomaly >= 0.85);
    // The local API has no DescribeEvents: the group's other readings stand, the gap is named.
    let report = &bundle.reports[0];
    assert_eq!(report.status, SourceStatus::Ok, "{report:?}");
    let message = report.message.clone().unwrap_or_default();
    assert!(
        message.contains("elasticache sessions-redis: DescribeEvents sessions-redis"),
        "{message}"
    );
}

/// ElastiCache's DescribeEvents as its API reference documents it (awsQuery: a form POST,
/// an XML answer), served with the group it belongs to; CloudWatch has no data here.
#[tokio::test]
async fn elasticache_events_in_the_window_are_read_and_a_failover_is_a_signal() {
    use wiremock::matchers::{body_string_contains, method};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let xml = |body: String| {
        ResponseTemplate::new(200)
            .insert_header("content-type", "text/xml")
            .set_body_string(body)
    };
    Mock::given(method("POST"))
        .and(body_string_contains("Action=DescribeReplicationGroups"))
        .respond_with(xml(r#"<DescribeReplicationGroupsResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/">
  <DescribeReplicationGroupsResult>
    <ReplicationGroups>
      <ReplicationGroup>
        <ReplicationGroupId>sessions-redis</ReplicationGroupId>
        <Status>available</Status>
        <AutomaticFailover>enabled</AutomaticFailover>
        <MemberClusters><ClusterId>sessions-redis-001</ClusterId><ClusterId>sessions-redis-002</ClusterId></MemberClusters>
        <NodeGroups><NodeGroup><NodeGroupId>0001</NodeGroupId><Status>available</Status>
          <NodeGroupMembers>
            <NodeGroupMember><CacheClusterId>sessions-redis-001</CacheClusterId><CurrentRole>replica</CurrentRole></NodeGroupMember>
            <NodeGroupMember><CacheClusterId>sessions-redis-002</CacheClusterId><CurrentRole>primary</CurrentRole></NodeGroupMember>
          </NodeGroupMembers></NodeGroup></NodeGroups>
      </ReplicationGroup>
    </ReplicationGroups>
  </DescribeReplicationGroupsResult>
  <ResponseMetadata><RequestId>a1b2</RequestId></ResponseMetadata>
</DescribeReplicationGroupsResponse>"#.to_string()))
        .mount(&server)
        .await;
    let at = (Utc::now() - chrono::Duration::minutes(8)).format("%Y-%m-%dT%H:%M:%S.000Z");
    Mock::given(method("POST"))
        .and(body_string_contains("Action=DescribeEvents"))
        .and(body_string_contains("SourceIdentifier=sessions-redis"))
        .respond_with(xml(format!(
            r#"<DescribeEventsResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/">
  <DescribeEventsResult>
    <Events>
      <Event>
        <SourceIdentifier>sessions-redis</SourceIdentifier>
        <SourceType>replication-group</SourceType>
        <Message>Failover to replica node sessions-redis-002 completed</Message>
        <Date>{at}</Date>
      </Event>
    </Events>
  </DescribeEventsResult>
  <ResponseMetadata><RequestId>c3d4</RequestId></ResponseMetadata>
</DescribeEventsResponse>"#
        )))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("Action=GetMetricData"))
        .respond_with(xml(
            r#"<GetMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">
  <GetMetricDataResult><MetricDataResults/><Messages/></GetMetricDataResult>
  <ResponseMetadata><RequestId>e5f6</RequestId></ResponseMetadata>
</GetMetricDataResponse>"#
                .to_string(),
        ))
        .mount(&server)
        .await;
    let config = sdk_config(&server.uri()).await;
    let window = Window {
        start: Utc::now() - chrono::Duration::minutes(30),
        onset: Utc::now() - chrono::Duration::minutes(5),
        end: Utc::now(),
    };
    let targets = Targets {
        elasticache: vec!["sessions-redis".into()],
        ..Targets::default()
    };
    let bundle = collect(AwsCollector::from_sdk_config(&config), &targets, &window).await;
    let report = &bundle.reports[0];
    assert_eq!(report.message, None, "every part answered: {report:?}");
    let group = bundle.item("aws.elasticache.sessions-redis.group").unwrap();
    assert!(
        group.summary.contains("sessions-redis-002 primary"),
        "{}",
        group.summary
    );
    let event = bundle
        .item("aws.elasticache.sessions-redis.event.0")
        .unwrap_or_else(|| panic!("{:?}", bundle.items));
    assert!(
        event
            .summary
            .contains("Failover to replica node sessions-redis-002 completed")
    );
    assert!(event.at.is_some() && event.anomaly >= 0.8);
    let signals = triaged::signals::derive(&bundle, &[]);
    assert!(
        signals
            .iter()
            .any(|s| s.entity == "elasticache/sessions-redis"
                && s.category == triaged::domain::Category::InfrastructureFailure),
        "{signals:?}"
    );
}
