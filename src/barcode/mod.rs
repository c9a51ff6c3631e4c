//! Frame → barcode candidates (rxing) → the waybill, with confidence and position.
