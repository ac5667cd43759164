//! What a controller's sync can fail with; the worker logs it and retries with back-off.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Api(#[from] kube::Error),
    /// An object the controller cannot act on as it is (bad selector, bad template, …).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// Whether the API answered 404 (the object is gone: nothing left to do).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Api(kube::Error::Api(s)) if s.code == 404)
    }

    /// Whether the API answered 409 (a conflict or an existing object).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Api(kube::Error::Api(s)) if s.code == 409)
    }
}

/// Turn a 404 into `Ok(None)`: deleting or patching what is already gone is success.
pub fn ignore_not_found<T>(r: Result<T, kube::Error>) -> Result<Option<T>, Error> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
