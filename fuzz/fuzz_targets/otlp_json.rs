//! OTLP/JSON decoding never panics, and what it accepts survives the agent's own OTLP/JSON
//! encoder: encode, decode again, and the payload is equal (unless it holds a NaN, which is
//! never equal to itself).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tributary::model::Signal;
use tributary::pipeline::codec::{decode, Encoding};

fuzz_target!(|data: &[u8]| {
    for signal in Signal::ALL {
        let Ok(payload) = decode(signal, Encoding::Json, data) else {
            continue;
        };
        let json = payload
            .to_otlp_json()
            .unwrap_or_else(|| panic!("{signal}: a decoded request has an OTLP/JSON form"));
        let again = match decode(signal, Encoding::Json, &json) {
            Ok(again) => again,
            Err(e) => panic!(
                "{signal}: the agent's own OTLP/JSON does not decode: {e}\n{}",
                String::from_utf8_lossy(&json)
            ),
        };
        if again != payload && !format!("{payload:?}").contains("NaN") {
            panic!(
                "{signal}: changed by an OTLP/JSON round trip\nbefore: {payload:?}\nafter:  {again:?}\njson: {}",
                String::from_utf8_lossy(&json)
            );
        }
    }
});
