//! The object lifecycle every resource shares, as upstream's generic registry store does it:
//! create, guaranteed update (read, change, compare-and-swap, retry), delete with finalizers and
//! graceful deletion. Handlers decode requests and encode responses; everything between is here.
//!
//! Objects are handled in their served shape and converted to the stored shape only at the
//! store boundary (`events.k8s.io` Events are stored as core Events).

pub mod admission;
pub mod delete;
pub mod meta;
pub mod priority;
pub mod services;
pub mod tolerations;

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use skiff_api::ApiError;
use skiff_api::object;
use skiff_api::resources::ResourceInfo;
use skiff_api::strategy::{AdmitError, Operation};
use skiff_store::StoreError;

use crate::ApiServer;
use crate::cache::{self, CachedObject};
use crate::handlers::respond::served_value;

/// Attempts of a read-modify-write before giving up on a contended object.
const UPDATE_RETRIES: usize = 16;

/// `?fieldValidation=`: what to do with fields the schema does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn parse(v: Option<&str>) -> Result<Self, ApiError> {
        match v {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation must be one of Ignore, Warn or Strict, got {other:?}"
            ))),
        }
    }
}

/// Options every write carries.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub validation: FieldValidation,
    /// `?fieldManager=`, defaulted from the User-Agent as upstream does.
    pub manager: String,
    /// Set by server-side apply, whose result already carries its field ownership.
    pub applied: bool,
}

/// Which part of an object an update writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Main,
    Status,
    /// The change as given, without the kind's admission: for subresources whose rules live
    /// in their own handler (a pod's binding, a budget's eviction bookkeeping).
    Internal,
}

/// The result of a create or update.
#[derive(Debug)]
pub struct Written {
    /// The object as stored, in served shape, with its resourceVersion.
    pub object: Value,
    pub created: bool,
    pub warnings: Vec<String>,
}

/// Map a store error about `name` to the API error upstream returns.
pub fn store_error(info: &ResourceInfo, name: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::AlreadyExists(_) => ApiError::already_exists(&info.qualified_resource(), name),
        StoreError::NotFound(_) => ApiError::not_found(&info.qualified_resource(), name),
        StoreError::Conflict { .. } => ApiError::conflict(
            &info.qualified_resource(),
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ),
        StoreError::Compacted { requested, compacted } => {
            ApiError::gone(format!("too old resource version: {requested} ({compacted})"))
        }
        StoreError::FutureRevision { requested, current } => {
            ApiError::timeout(format!("Too large resource version: {requested}, current: {current}"))
        }
        StoreError::Io(m) => ApiError::internal(m),
        StoreError::Closed => ApiError::service_unavailable("the server is shutting down"),
    }
}

/// Encode an object for the store: stored shape, no resourceVersion (it is the revision).
pub fn encode_for_store(info: &ResourceInfo, served: &Value) -> Bytes {
    let has_rv = object::meta(served).is_some_and(|m| m.contains_key("resourceVersion"));
    if info.stored_as.is_none() && !has_rv {
        // The common case encodes in place: no copy of the object.
        return Bytes::from(serde_json::to_vec(served).unwrap_or_default());
    }
    let mut v = match info.stored_as {
        Some((_, conv)) => conv.to_storage(served.clone()),
        None => served.clone(),
    };
    object::remove(&mut v, "resourceVersion");
    Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}

/// The error when a read-modify-write keeps losing the race for an object.
fn contended(info: &ResourceInfo, name: &str) -> ApiError {
    ApiError::conflict(&info.qualified_resource(), name, "the object is being modified too often; please try again")
}

fn with_rv(mut v: Value, rev: i64) -> Value {
    object::set_str(&mut v, "resourceVersion", &rev.to_string());
    v
}

/// Decode, default and validate through the kind's strategy, turning its errors into Status.
fn admit(
    info: &ResourceInfo,
    op: Operation,
    obj: Value,
    old: Option<&Value>,
    opts: &WriteOptions,
) -> Result<(Value, Vec<String>), ApiError> {
    let name = object::name(&obj).to_string();
    let cannot_handle = |why: String| {
        ApiError::bad_request(format!(
            "{kind} in version \"{v}\" cannot be handled as a {kind}: {why}",
            kind = info.kind,
            v = info.version
        ))
    };
    match info.strategy.admit(info, op, obj, old, opts.validation == FieldValidation::Strict) {
        Ok(a) => {
            let warnings = match opts.validation {
                FieldValidation::Warn => a.unknown_fields.iter().map(|f| format!("unknown field {f:?}")).collect(),
                _ => Vec::new(),
            };
            Ok((a.object, warnings))
        }
        Err(AdmitError::Decode(why)) => Err(cannot_handle(why)),
        Err(e @ AdmitError::UnknownFields(_)) => Err(cannot_handle(e.to_string())),
        Err(AdmitError::Invalid(errs)) => Err(ApiError::invalid(&info.qualified_kind(), &name, &errs)),
    }
}

impl ApiServer {
    /// The stored object, read after the cache has caught up with every acknowledged write.
    pub(crate) async fn current(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Arc<CachedObject>>, ApiError> {
        self.cache.wait_fresh().await?;
        let key = cache::key(info, namespace, name);
        Ok(self.cache.resource(info).read().objects.get(&key).cloned())
    }

    /// Create an object (served shape) in `namespace`.
    pub(crate) async fn create_object(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        mut obj: Value,
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        meta::prepare_create(info, &mut obj, namespace)?;
        let name = object::name(&obj).to_string();
        self.check_namespace(info, namespace, &name).await?;
        if info.plural == "pods" && info.group.is_empty() {
            self.admit_pod_priority(&mut obj).await?;
            tolerations::add_default_tolerations(&mut obj);
        }
        let (mut obj, warnings) = admit(info, Operation::Create, obj, None, opts)?;
        if !opts.applied {
            crate::managed::record_update(info, None, &mut obj, &opts.manager, None);
        }

        // Services take their addresses under the allocation lock, held until stored.
        let _alloc = if info.plural == "services" && info.group.is_empty() {
            let guard = self.service_alloc.lock().await;
            self.allocate_service(info, &mut obj, None).await?;
            Some(guard)
        } else {
            None
        };
        if opts.dry_run {
            return Ok(Written { object: obj, created: true, warnings });
        }
        let key = cache::key(info, namespace, &name);
        let rev =
            self.store.create(&key, encode_for_store(info, &obj)).await.map_err(|e| store_error(info, &name, e))?;
        Ok(Written { object: with_rv(obj, rev), created: true, warnings })
    }

    /// Read-modify-write: `change` gets the current object (served shape, with its
    /// resourceVersion) and returns the desired one. A resourceVersion in the result is a
    /// precondition; without one the change is retried on conflicts with fresh data.
    pub(crate) async fn update_object(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        name: &str,
        target: Target,
        opts: &WriteOptions,
        mut change: impl FnMut(&Value) -> Result<Value, ApiError>,
    ) -> Result<Written, ApiError> {
        let key = cache::key(info, namespace, name);
        for _ in 0..UPDATE_RETRIES {
            let current = self
                .current(info, namespace, name)
                .await?
                .ok_or_else(|| ApiError::not_found(&info.qualified_resource(), name))?;
            let old = served_value(info, current.value());
            let mut new = change(&old)?;
            let requested_rv = object::resource_version(&new);
            if !requested_rv.is_empty() && requested_rv != current.rev.to_string() {
                return Err(store_error(info, name, StoreError::Conflict { key: key.clone(), current: current.rev }));
            }
            let (mut new, warnings) = match target {
                Target::Main => {
                    meta::prepare_update(info, &mut new, &old);
                    admit(info, Operation::Update, new, Some(&old), opts)?
                }
                Target::Status => {
                    new = meta::prepare_status_update(&new, &old);
                    admit(info, Operation::StatusUpdate, new, Some(&old), opts)?
                }
                Target::Internal => {
                    object::remove(&mut new, "resourceVersion");
                    (new, Vec::new())
                }
            };
            if !opts.applied && target != Target::Internal {
                crate::managed::record_update(
                    info,
                    Some(&old),
                    &mut new,
                    &opts.manager,
                    (target == Target::Status).then_some("status"),
                );
            }

            let _alloc = if target == Target::Main && info.plural == "services" && info.group.is_empty() {
                let guard = self.service_alloc.lock().await;
                self.allocate_service(info, &mut new, Some(&old)).await?;
                Some(guard)
            } else {
                None
            };
            if meta::is_noop(&new, &old) {
                return Ok(Written { object: old, created: false, warnings });
            }
            if opts.dry_run {
                return Ok(Written { object: with_rv(new, current.rev), created: false, warnings });
            }
            if delete::finalized(&new) {
                // The last finalizer went: the object goes with this update.
                match self.store.delete(&key, Some(current.rev)).await {
                    Ok((rev, _)) => return Ok(Written { object: with_rv(new, rev), created: false, warnings }),
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(e) => return Err(store_error(info, name, e)),
                }
            }
            match self.store.update(&key, encode_for_store(info, &new), current.rev).await {
                Ok(rev) => return Ok(Written { object: with_rv(new, rev), created: false, warnings }),
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(store_error(info, name, e)),
            }
        }
        Err(contended(info, name))
    }

    /// Fill a service's cluster IP and node ports; the caller holds the allocation lock.
    async fn allocate_service(
        &self,
        info: &ResourceInfo,
        svc: &mut Value,
        old: Option<&Value>,
    ) -> Result<(), ApiError> {
        self.cache.wait_fresh().await?;
        let mut used = services::InUse::default();
        for o in self.cache.resource(info).read().objects.values() {
            let v = o.value();
            if old.is_some_and(|old| object::uid(old) == object::uid(&v)) {
                continue;
            }
            used.add_service(&v);
        }
        services::allocate(svc, old, &used, self.service_cidr, self.node_port_range)
            .map_err(|errs| ApiError::invalid(&info.qualified_kind(), object::name(svc), &errs))
    }
}
