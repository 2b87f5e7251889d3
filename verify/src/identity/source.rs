//! Raw identity claims read out of a certificate's subject and extensions.

use x509_parser::certificate::X509Certificate;
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::x509::AttributeTypeAndValue;

use crate::oid::{
    ATTR_COMMON_NAME, ATTR_EMAIL_ADDRESS, ATTR_ORGANIZATION, ATTR_ORGANIZATION_IDENTIFIER,
    ATTR_SERIAL_NUMBER, ATTR_UID,
};

/// Where a claim was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimSource {
    /// A `UID` attribute with `PREFIX:value`.
    Uid,
    /// An ETSI semantics identifier in serialNumber or organizationIdentifier.
    Etsi,
}

/// One identifier as written in the certificate, not yet validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Where it came from.
    pub source: ClaimSource,
    /// The label (`CCCD`, `MST`, …), ETSI types already mapped to these.
    pub kind: String,
    /// The value after the label.
    pub value: String,
}

/// Everything identity-related a certificate says.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    /// Identifier claims in certificate order.
    pub identifiers: Vec<Claim>,
    /// First subject CN.
    pub common_name: Option<String>,
    /// First subject O.
    pub organization: Option<String>,
    /// First email in subject emailAddress or subjectAltName rfc822Name.
    pub email: Option<String>,
    /// A UID, serialNumber or organizationIdentifier attribute that is not readable text
    /// (a control character, broken UTF-16): it might hold an identifier, so it spoils
    /// the certificate as a malformed one does.
    pub unreadable_identifier: bool,
}

/// Decodes any DirectoryString-like value: the UTF-8 compatible types as they are,
/// BMPString as UTF-16BE, UniversalString as UTF-32BE, TeletexString as Latin-1. Text
/// with an ASCII control character (a NUL, an escape) is no name or identifier anyone is
/// given: it is not read, and shown in hex where a name is displayed. (C1 controls are
/// left alone: they are what UTF-8 put in a TeletexString reads as, garbled but a name.)
pub fn decode_string(attr: &AttributeTypeAndValue<'_>) -> Option<String> {
    decode_any_string(attr).filter(|text| !text.chars().any(|c| c.is_ascii_control()))
}

fn decode_any_string(attr: &AttributeTypeAndValue<'_>) -> Option<String> {
    let data = attr.as_slice();
    match attr.attr_value().tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString => std::str::from_utf8(data).ok().map(str::to_owned),
        Tag::BmpString => {
            let units: Vec<u16> = data
                .chunks(2)
                .map(|c| Some(u16::from_be_bytes([*c.first()?, *c.get(1)?])))
                .collect::<Option<Vec<u16>>>()?;
            String::from_utf16(&units).ok()
        }
        Tag::UniversalString => data
            .chunks(4)
            .map(|c| {
                let b: [u8; 4] = c.try_into().ok()?;
                char::from_u32(u32::from_be_bytes(b))
            })
            .collect(),
        Tag::T61String => Some(data.iter().map(|b| char::from(*b)).collect()),
        _ => None,
    }
}

/// Maps an ETSI EN 319 412-1 §5.1.3 semantics identifier (`PNOVN-…`) to a claim; other
/// countries and unknown types give `None`.
fn etsi_claim(text: &str) -> Option<Claim> {
    let (head, value) = text.split_once('-')?;
    let (kind, country) = (head.get(..3)?, head.get(3..)?);
    if !country.eq_ignore_ascii_case("VN") {
        return None;
    }
    let kind = match kind.to_ascii_uppercase().as_str() {
        "PNO" | "IDC" => match value.trim().len() {
            12 => "CCCD",
            _ => "CMND",
        },
        "TIN" | "VAT" => "MST",
        "PAS" => "HC",
        _ => return None,
    };
    Some(Claim {
        source: ClaimSource::Etsi,
        kind: kind.to_owned(),
        value: value.to_owned(),
    })
}

/// Reads the identity claims of a certificate.
pub fn claims_of(cert: &X509Certificate<'_>) -> Claims {
    let mut claims = Claims::default();
    for attr in cert.subject().iter_attributes() {
        let oid = attr.attr_type().to_id_string();
        let Some(text) = decode_string(attr) else {
            if matches!(
                oid.as_str(),
                ATTR_UID | ATTR_SERIAL_NUMBER | ATTR_ORGANIZATION_IDENTIFIER
            ) {
                claims.unreadable_identifier = true;
            }
            continue;
        };
        match oid.as_str() {
            ATTR_UID => {
                if let Some((kind, value)) = text.split_once(':') {
                    claims.identifiers.push(Claim {
                        source: ClaimSource::Uid,
                        kind: kind.to_owned(),
                        value: value.to_owned(),
                    });
                }
            }
            ATTR_SERIAL_NUMBER | ATTR_ORGANIZATION_IDENTIFIER => {
                claims.identifiers.extend(etsi_claim(&text));
            }
            ATTR_COMMON_NAME => {
                claims.common_name.get_or_insert(text);
            }
            ATTR_ORGANIZATION => {
                claims.organization.get_or_insert(text);
            }
            ATTR_EMAIL_ADDRESS => {
                claims.email.get_or_insert(text);
            }
            _ => {}
        }
    }
    if claims.email.is_none() {
        claims.email = cert
            .extensions()
            .iter()
            .find_map(|ext| match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    san.general_names.iter().find_map(|g| match g {
                        GeneralName::RFC822Name(e) => Some((*e).to_owned()),
                        _ => None,
                    })
                }
                _ => None,
            });
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etsi_identifiers_map_to_vietnamese_kinds() {
        let k = |t: &str| etsi_claim(t).map(|c| (c.kind, c.value));
        assert_eq!(
            k("PNOVN-001090012345"),
            Some(("CCCD".into(), "001090012345".into()))
        );
        assert_eq!(
            k("IDCVN-012345678"),
            Some(("CMND".into(), "012345678".into()))
        );
        assert_eq!(
            k("TINVN-0100112437"),
            Some(("MST".into(), "0100112437".into()))
        );
        assert_eq!(
            k("VATVN-0301519977-029"),
            Some(("MST".into(), "0301519977-029".into()))
        );
        assert_eq!(k("PASVN-C1234567"), Some(("HC".into(), "C1234567".into())));
        assert_eq!(k("PNOEE-38001085718"), None);
        assert_eq!(k("NTRVN-123"), None);
        assert_eq!(k("0100112437"), None);
        assert_eq!(k("P-1"), None);
    }
}
