//! Reading answers from other services (OCSP responders, CRL servers, the operator's
//! signature service) without trusting their size: bodies are read chunk by chunk and
//! abandoned past a limit, so a hostile or broken server costs bounded memory.

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// More bytes than the limit.
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    /// The connection failed or timed out mid-body.
    #[error("{0}")]
    Transport(String),
}

/// Reads `response`'s body, refusing more than `limit` bytes.
pub async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, ReadError> {
    if response
        .content_length()
        .is_some_and(|n| usize::try_from(n).map_or(true, |n| n > limit))
    {
        return Err(ReadError::TooLarge(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ReadError::Transport(e.to_string()))?
    {
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
