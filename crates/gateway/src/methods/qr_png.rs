//! A setup code as a QR code PNG (`qrDataUrl`), for clients that show it as an image (the
//! Control UI). Upstream's rendering: 6 pixels per module, a 4-module quiet zone, black on
//! white, as a `data:image/png;base64,` URL; a URL longer than [`MAX_DATA_URL_LEN`] is left
//! out of the answer rather than sent.
//!
//! The PNG is written here (8-bit grayscale, one zlib stream) rather than through an image
//! crate: five chunks of a fixed layout do not justify a decoder-sized dependency.

use base64::Engine;

/// Pixels per module.
const SCALE: usize = 6;
/// Quiet-zone width, in modules.
const MARGIN: usize = 4;
/// The longest data URL put in an answer.
pub const MAX_DATA_URL_LEN: usize = 16_384;

/// `data:image/png;base64,…` of the QR code of `data`, or `None` when it cannot be drawn or
/// would be longer than [`MAX_DATA_URL_LEN`].
pub fn data_url(data: &str) -> Option<String> {
    let qr = qrcode::QrCode::new(data.as_bytes()).ok()?;
    let modules = qr.width();
    let colors = qr.to_colors();
    let side = (modules + 2 * MARGIN) * SCALE;
    // Each row: the filter byte (0, none), then one gray byte per pixel.
    let mut raw = Vec::with_capacity(side * (side + 1));
    for y in 0..side {
        raw.push(0);
        let my = (y / SCALE).checked_sub(MARGIN).filter(|m| *m < modules);
        for x in 0..side {
            let mx = (x / SCALE).checked_sub(MARGIN).filter(|m| *m < modules);
            let dark = matches!((mx, my), (Some(mx), Some(my)) if colors[my * modules + mx] == qrcode::Color::Dark);
            raw.push(if dark { 0 } else { 255 });
        }
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(side as u32).to_be_bytes());
    ihdr.extend_from_slice(&(side as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit, grayscale, deflate, no filter, no interlace
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &miniz_oxide::deflate::compress_to_vec_zlib(&raw, 9));
    chunk(&mut png, b"IEND", &[]);
    let url = format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(png));
    (url.len() <= MAX_DATA_URL_LEN).then_some(url)
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], body: &[u8]) {
    png.extend_from_slice(&(body.len() as u32).to_be_bytes());
    let start = png.len();
    png.extend_from_slice(kind);
    png.extend_from_slice(body);
    let crc = crc32(&png[start..]);
    png.extend_from_slice(&crc.to_be_bytes());
}

/// CRC-32 (IEEE), bit by bit: a few kilobytes per code, so no table.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_png_test_vector() {
        // The CRC of an empty IEND chunk is fixed by the format.
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
    }

    #[test]
    fn the_png_decodes_to_the_modules() {
        let url = data_url("hello").unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(url.strip_prefix("data:image/png;base64,").unwrap())
            .unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let side = u32::from_be_bytes(png[16..20].try_into().unwrap()) as usize;
        let qr = qrcode::QrCode::new(b"hello").unwrap();
        assert_eq!(side, (qr.width() + 8) * 6);
        let idat_len = u32::from_be_bytes(png[33..37].try_into().unwrap()) as usize;
        assert_eq!(&png[37..41], b"IDAT");
        let raw = miniz_oxide::inflate::decompress_to_vec_zlib(&png[41..41 + idat_len]).unwrap();
        assert_eq!(raw.len(), side * (side + 1));
        // The top-left finder pattern's corner module is dark, the quiet zone white.
        let pixel = |x: usize, y: usize| raw[y * (side + 1) + 1 + x];
        assert_eq!(pixel(0, 0), 255);
        assert_eq!(pixel(4 * 6, 4 * 6), 0);
        assert!(data_url(&"x".repeat(2000)).is_none(), "too long for an answer");
    }
}
