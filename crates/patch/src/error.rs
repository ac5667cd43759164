//! Errors of the patch engines, classified the way the upstream API server reports them.

/// Why a patch could not be applied. The variant says which HTTP status upstream answers with;
/// the text is upstream's wording (roughly), meant for the Status message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch document itself is malformed: 400 BadRequest.
    #[error("{0}")]
    BadRequest(String),
    /// A well-formed patch that does not apply to this object (a JSON patch path that does not
    /// exist, a failed `test`): 422, which upstream reports as `Invalid` with the text in a
    /// cause of type `UnexpectedServerResponse`.
    #[error("{0}")]
    Unprocessable(String),
    /// Upstream returns these strategic-merge errors unclassified: 500 with reason `Unknown` and
    /// the text as the message (kubectl prints `Error from server: <text>`).
    #[error("{0}")]
    Failed(String),
}

impl PatchError {
    /// The HTTP status upstream answers with.
    pub fn code(&self) -> u16 {
        match self {
            PatchError::BadRequest(_) => 400,
            PatchError::Unprocessable(_) => 422,
            PatchError::Failed(_) => 500,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            PatchError::BadRequest(m) | PatchError::Unprocessable(m) | PatchError::Failed(m) => m,
        }
    }
}
