//! Reads a request body under two limits: the compressed body first, then what it inflates to,
//! so that a compression bomb is refused after at most `limit` bytes of output.

use std::io::Read;

use axum::body::{Body, Bytes};
use http_body_util::{BodyExt, LengthLimitError, Limited};

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the {encoding} request body inflates past the limit of {limit} bytes")]
    InflatesTooLarge { encoding: String, limit: usize },
    #[error("expected a {encoding} body, but it did not decompress: {reason}")]
    Corrupt { encoding: String, reason: String },
    #[error("expected Content-Encoding gzip, deflate, zstd or identity, found {0:?}")]
    UnsupportedEncoding(String),
    #[error("reading the request body failed: {0}")]
    Read(String),
}

pub async fn read(
    body: Body,
    content_encoding: Option<&str>,
    limit: usize,
) -> Result<Bytes, BodyError> {
    let encoding = content_encoding
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e != "identity");
    if let Some(encoding) = &encoding {
        if !matches!(encoding.as_str(), "gzip" | "x-gzip" | "deflate" | "zstd") {
            return Err(BodyError::UnsupportedEncoding(encoding.clone()));
        }
    }
    let compressed = Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<LengthLimitError>().is_some() {
                BodyError::TooLarge { limit }
            } else {
                BodyError::Read(e.to_string())
            }
        })?
        .to_bytes();
    match encoding {
        None => Ok(compressed),
        Some(encoding) => inflate(&encoding, &compressed, limit).map(|mut inflated| {
            // The bytes may stay with the batch (see `EncodedGroups`): not their spare room.
            inflated.shrink_to_fit();
            Bytes::from(inflated)
        }),
    }
}

pub fn inflate(encoding: &str, compressed: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    let corrupt = |e: std::io::Error| BodyError::Corrupt {
        encoding: encoding.to_string(),
        reason: e.to_string(),
    };
    let decoder: Box<dyn Read + '_> = match encoding {
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(compressed)),
        "deflate" => Box::new(flate2::read::ZlibDecoder::new(compressed)),
        "zstd" => Box::new(zstd::stream::read::Decoder::new(compressed).map_err(corrupt)?),
        other => return Err(BodyError::UnsupportedEncoding(other.to_string())),
    };
    let mut inflated = Vec::new();
    // One byte past the limit tells "exactly at the limit" from "over it".
    decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(corrupt)?;
    if inflated.len() > limit {
        return Err(BodyError::InflatesTooLarge {
            encoding: encoding.to_string(),
            limit,
        });
    }
    Ok(inflated)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn inflates_each_supported_encoding() {
        let data = b"hello otlp".repeat(100);
        assert_eq!(inflate("gzip", &gzip(&data), 4096).unwrap(), data);
        let zstd = zstd::encode_all(&data[..], 3).unwrap();
        assert_eq!(inflate("zstd", &zstd, 4096).unwrap(), data);
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(&data).unwrap();
        assert_eq!(
            inflate("deflate", &zlib.finish().unwrap(), 4096).unwrap(),
            data
        );
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let bomb = gzip(&vec![0u8; 64 * 1024 * 1024]);
        assert!(bomb.len() < 128 * 1024, "a small body: {}", bomb.len());
        let error = inflate("gzip", &bomb, 1024 * 1024).unwrap_err();
        assert!(
            matches!(error, BodyError::InflatesTooLarge { limit: 1048576, .. }),
            "{error}"
        );
    }

    #[test]
    fn a_body_that_is_not_gzip_is_corrupt() {
        let error = inflate("gzip", b"plain text, not gzip", 1024).unwrap_err();
        assert!(matches!(error, BodyError::Corrupt { .. }), "{error}");
    }

    #[tokio::test]
    async fn the_compressed_size_is_limited_too() {
        let error = read(Body::from(vec![1u8; 2048]), None, 1024)
            .await
            .unwrap_err();
        assert!(
            matches!(error, BodyError::TooLarge { limit: 1024 }),
            "{error}"
        );
        let error = read(Body::from("x"), Some("br"), 1024).await.unwrap_err();
        assert!(
            matches!(error, BodyError::UnsupportedEncoding(_)),
            "{error}"
        );
        assert_eq!(
            read(Body::from("ok"), Some("identity"), 1024)
                .await
                .unwrap(),
            "ok"
        );
    }
}
