//! ISO 3166-1 alpha-2 country codes: destinations and S10 origin codes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Every officially assigned ISO 3166-1 alpha-2 code (249 codes).
const ASSIGNED: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL \
BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM \
DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY \
HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC \
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE \
NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD \
SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA \
UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// A validated ISO 3166-1 alpha-2 code, stored upper case.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Country([u8; 2]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{0}\" is not an ISO 3166 country code; use two letters like JP, HK or CN")]
pub struct UnknownCountry(pub String);

impl Country {
    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// English short name for the destinations this carrier serves; the code otherwise.
    pub fn name(&self) -> &str {
        match self.as_str() {
            "HK" => "Hong Kong",
            "KR" => "Korea",
            "JP" => "Japan",
            "SG" => "Singapore",
            "TH" => "Thailand",
            "PH" => "Philippines",
            "MY" => "Malaysia",
            "CN" => "China",
            "TW" => "Taiwan",
            "US" => "United States",
            other => other,
        }
    }
}

impl FromStr for Country {
    type Err = UnknownCountry;

    fn from_str(s: &str) -> Result<Country, UnknownCountry> {
        let t = s.trim();
        let b = t.as_bytes();
        if b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic) {
            let code = [b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()];
            if ASSIGNED
                .split_ascii_whitespace()
                .any(|c| c.as_bytes() == code)
            {
                return Ok(Country(code));
            }
        }
        Err(UnknownCountry(t.to_owned()))
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Country {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Country, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_case_insensitive_and_checked() {
        assert_eq!("jp".parse::<Country>().unwrap().as_str(), "JP");
        assert_eq!(" Tw ".parse::<Country>().unwrap().as_str(), "TW");
        assert!("XX".parse::<Country>().is_err());
        assert!("JPN".parse::<Country>().is_err());
        assert!("".parse::<Country>().is_err());
        assert_eq!(ASSIGNED.split_ascii_whitespace().count(), 249);
    }
}
