//! `google.events.cloud.audit.v1.LogEntryData`: the Cloud Audit Log entry of a
//! `google.cloud.audit.log.v1.written` event.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

/// The CloudEvent type whose data is a [`LogEntryData`].
pub const LOG_WRITTEN: &str = "google.cloud.audit.log.v1.written";

/// An audit log entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LogEntryData {
    /// The log it belongs to (`projects/P/logs/cloudaudit.googleapis.com%2Factivity`).
    #[serde(default)]
    pub log_name: Option<String>,
    /// The monitored resource that produced it.
    #[serde(default)]
    pub resource: Option<MonitoredResource>,
    /// What happened: the audit record.
    #[serde(default)]
    pub proto_payload: Option<AuditLog>,
    /// A unique id for the entry.
    #[serde(default)]
    pub insert_id: Option<String>,
    /// User-defined labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The operation it is part of.
    #[serde(default)]
    pub operation: Option<Operation>,
    /// When the event happened.
    #[serde(default)]
    pub timestamp: Option<DateTime<Utc>>,
    /// When Cloud Logging received it.
    #[serde(default)]
    pub receive_timestamp: Option<DateTime<Utc>>,
    /// Its severity (`NOTICE`, `ERROR`, ...).
    #[serde(default)]
    pub severity: Option<String>,
    /// The trace it belongs to (`projects/P/traces/T`).
    #[serde(default)]
    pub trace: Option<String>,
}

/// The resource that produced an entry: a type and its labels.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct MonitoredResource {
    /// Its type, such as `gcs_bucket` or `cloud_run_revision`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its labels, such as `project_id`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// The audit record: who called which method on what, and how it went.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AuditLog {
    /// The API service, such as `storage.googleapis.com`.
    #[serde(default)]
    pub service_name: Option<String>,
    /// The method, such as `storage.buckets.create`.
    #[serde(default)]
    pub method_name: Option<String>,
    /// The resource the operation targets.
    #[serde(default)]
    pub resource_name: Option<String>,
    /// Who made the request.
    #[serde(default)]
    pub authentication_info: Option<AuthenticationInfo>,
    /// Where the request came from.
    #[serde(default)]
    pub request_metadata: Option<RequestMetadata>,
    /// How the operation ended; absent or code 0 when it succeeded.
    #[serde(default)]
    pub status: Option<Status>,
    /// The request, as the service logged it (its JSON, with `@type`).
    #[serde(default)]
    pub request: Option<Value>,
    /// The response, as the service logged it.
    #[serde(default)]
    pub response: Option<Value>,
    /// Service-specific details.
    #[serde(default)]
    pub metadata: Option<Value>,
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AuthenticationInfo {
    /// The caller's email (redacted for some failed read-only calls).
    #[serde(default)]
    pub principal_email: Option<String>,
    /// The caller as a principal string.
    #[serde(default)]
    pub principal_subject: Option<String>,
}

/// Where a request came from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RequestMetadata {
    /// The caller's IP address.
    #[serde(default)]
    pub caller_ip: Option<String>,
    /// The caller's user agent.
    #[serde(default)]
    pub caller_supplied_user_agent: Option<String>,
}

/// A `google.rpc.Status`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Status {
    /// A `google.rpc.Code`; 0 is OK.
    #[serde(default)]
    pub code: i32,
    /// What went wrong, for developers.
    #[serde(default)]
    pub message: Option<String>,
}

/// The operation an entry is part of.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Operation {
    /// Its id.
    #[serde(default)]
    pub id: Option<String>,
    /// Who produced it.
    #[serde(default)]
    pub producer: Option<String>,
    /// Whether this is its first entry.
    #[serde(default)]
    pub first: bool,
    /// Whether this is its last entry.
    #[serde(default)]
    pub last: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_who_did_what_to_which_resource() {
        let entry: LogEntryData = serde_json::from_value(json!({
            "logName": "projects/p/logs/cloudaudit.googleapis.com%2Factivity",
            "resource": {"type": "gcs_bucket", "labels": {"project_id": "p", "bucket_name": "b"}},
            "protoPayload": {
                "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
                "serviceName": "storage.googleapis.com",
                "methodName": "storage.buckets.create",
                "resourceName": "projects/_/buckets/b",
                "authenticationInfo": {"principalEmail": "ada@example.com"},
                "requestMetadata": {"callerIp": "192.0.2.1"},
                "status": {}
            },
            "insertId": "abc", "severity": "NOTICE",
            "timestamp": "2024-05-06T15:14:15.917Z",
            "operation": {"id": "op", "producer": "storage", "first": true}
        }))
        .unwrap();
        let audit = entry.proto_payload.unwrap();
        assert_eq!(audit.method_name.as_deref(), Some("storage.buckets.create"));
        assert_eq!(
            audit
                .authentication_info
                .unwrap()
                .principal_email
                .as_deref(),
            Some("ada@example.com")
        );
        assert_eq!(audit.status.unwrap().code, 0);
        assert_eq!(entry.resource.unwrap().kind, "gcs_bucket");
        assert!(entry.operation.unwrap().first);
    }
}
