//! The protobuf walk (`wire_check`) may only accept what the full decode accepts: for any bytes
//! it says are well-formed, prost decodes them, `wellformed::check` passes, and the item counts
//! agree, in total and per resource group. `decode_received`, which takes the walk's word for
//! it, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tributary::model::Signal;
use tributary::pipeline::codec::{decode, decode_received, wire_check, Encoding};

fuzz_target!(|data: &[u8]| {
    for signal in Signal::ALL {
        check(signal, data);
    }
});

fn check(signal: Signal, data: &[u8]) {
    let walked = wire_check::well_formed_group_items(signal, data);
    let total = wire_check::well_formed_items(signal, data);
    assert_eq!(
        total,
        walked.as_ref().map(|groups| groups.iter().sum()),
        "{signal}: the walk's total and its groups disagree"
    );
    let received = decode_received(
        signal,
        Encoding::Protobuf,
        &bytes::Bytes::copy_from_slice(data),
    );
    let Some(groups) = walked else {
        return;
    };
    // `decode` is prost's decode followed by `wellformed::check`.
    let payload = match decode(signal, Encoding::Protobuf, data) {
        Ok(payload) => payload,
        Err(e) => panic!("{signal}: the walk accepted {groups:?} but the full decode refused: {e}"),
    };
    assert_eq!(payload.group_items(), groups, "{signal}: items per group");
    assert_eq!(
        payload.item_count(),
        total.unwrap_or_default(),
        "{signal}: items"
    );
    let received = received.unwrap_or_else(|e| panic!("{signal}: walked, then refused: {e}"));
    assert_eq!(
        received.items(),
        payload.item_count(),
        "{signal}: received items"
    );
}
