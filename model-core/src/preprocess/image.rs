//! Poster decoding (JPEG, PNG, WebP) with limits, resizing and per-model normalisation.

use std::io::Cursor;

use image::imageops::FilterType;
use image::{ImageReader, Limits, RgbImage};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The side of the square that every model sees.
pub const IMAGE_SIZE: u32 = 224;

/// The largest width or height accepted: larger images are refused before any pixel is decoded.
pub const MAX_IMAGE_SIDE: u32 = 12_000;

/// The most memory one decode may allocate (a decompression bomb is refused, not allocated).
pub const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;

/// Mean and standard deviation per RGB channel, applied to pixels scaled to `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Per-channel mean.
    pub mean: [f32; 3],
    /// Per-channel standard deviation.
    pub std: [f32; 3],
}

impl Normalization {
    /// ImageNet statistics, used by the pretrained backbones (ResNet-50, EfficientNet).
    pub const IMAGENET: Self = Self { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
    /// Mean and standard deviation 0.5: the SimpleCNN's choice, mapping pixels to `[-1, 1]`.
    pub const HALF: Self = Self { mean: [0.5; 3], std: [0.5; 3] };
}

/// How a poster becomes a model input.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ImagePreprocessing {
    /// Output side in pixels (the image is squashed to a square, as the design does).
    pub size: u32,
    /// Normalisation after scaling to `[0, 1]`.
    pub normalization: Normalization,
}

impl ImagePreprocessing {
    /// 224x224 with the given normalisation.
    pub fn new(normalization: Normalization) -> Self {
        Self { size: IMAGE_SIZE, normalization }
    }

    /// Decodes `bytes` and returns the normalised CHW floats (`3 * size * size`).
    /// `name` names the input in errors.
    pub fn apply(&self, bytes: &[u8], name: &str) -> Result<Vec<f32>> {
        let image = decode_image(bytes, name)?;
        Ok(self.to_chw(&image))
    }

    /// Resizes a decoded image (bilinear, no crop) and normalises it into CHW floats.
    pub fn to_chw(&self, image: &RgbImage) -> Vec<f32> {
        let size = self.size;
        let resized = if image.dimensions() == (size, size) {
            image.clone()
        } else {
            image::imageops::resize(image, size, size, FilterType::Triangle)
        };
        let plane = (size * size) as usize;
        let mut out = vec![0.0f32; 3 * plane];
        let Normalization { mean, std } = self.normalization;
        for (i, pixel) in resized.pixels().enumerate() {
            for c in 0..3 {
                out[c * plane + i] = (f32::from(pixel[c]) / 255.0 - mean[c]) / std[c];
            }
        }
        out
    }
}

/// Decodes JPEG, PNG or WebP bytes (format from the content, not the name) into 8-bit RGB.
/// Grayscale, alpha, CMYK and 16-bit images are converted; oversized or corrupt ones are refused
/// with an error naming `name`.
pub fn decode_image(bytes: &[u8], name: &str) -> Result<RgbImage> {
    let fail = |reason: String| Error::Image { name: name.to_string(), reason };
    if bytes.is_empty() {
        return Err(fail("the file is empty".into()));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| fail(e.to_string()))?;
    match reader.format() {
        None => return Err(fail("not a JPEG, PNG or WebP image".into())),
        Some(image::ImageFormat::Jpeg) if jpeg_is_truncated(bytes) => {
            return Err(fail("truncated JPEG (no end-of-image marker after the last scan)".into()))
        }
        Some(_) => {}
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let decoded = reader.decode().map_err(|e| fail(e.to_string()))?;
    if decoded.width() == 0 || decoded.height() == 0 {
        return Err(fail("the image has no pixels".into()));
    }
    Ok(decoded.to_rgb8())
}

/// Whether a JPEG stops before its end-of-image marker: the last EOI (`FF D9`) must come after
/// the last start-of-scan (`FF DA`). JPEG decoders fill a cut-off scan with grey instead of
/// failing, so a truncated poster would otherwise train as a half-grey image.
fn jpeg_is_truncated(bytes: &[u8]) -> bool {
    let last = |marker: u8| bytes.windows(2).rposition(|w| w[0] == 0xff && w[1] == marker);
    match (last(0xda), last(0xd9)) {
        (Some(scan), Some(end)) => end < scan,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, ImageFormat, Luma, Rgb};

    fn encode(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut bytes = Cursor::new(Vec::new());
        image.write_to(&mut bytes, format).unwrap();
        bytes.into_inner()
    }

    #[test]
    fn normalises_to_chw_with_the_model_statistics() {
        let image = RgbImage::from_pixel(224, 224, Rgb([255, 0, 128]));
        let chw = ImagePreprocessing::new(Normalization::HALF).to_chw(&image);
        let plane = 224 * 224;
        assert_eq!(chw.len(), 3 * plane);
        assert!((chw[0] - 1.0).abs() < 1e-6);
        assert!((chw[plane] + 1.0).abs() < 1e-6);
        assert!((chw[2 * plane] - (128.0 / 255.0 - 0.5) / 0.5).abs() < 1e-6);
        let imagenet = ImagePreprocessing::new(Normalization::IMAGENET).to_chw(&image);
        assert!((imagenet[0] - (1.0 - 0.485) / 0.229).abs() < 1e-5);
    }

    #[test]
    fn squashes_any_aspect_to_the_square() {
        let image = RgbImage::from_pixel(216, 320, Rgb([10, 20, 30]));
        let chw = ImagePreprocessing::new(Normalization::HALF).to_chw(&image);
        assert_eq!(chw.len(), 3 * 224 * 224);
        assert!((chw[0] - (10.0 / 255.0 - 0.5) / 0.5).abs() < 1e-6);
    }

    #[test]
    fn decodes_png_jpeg_webp_grayscale_and_16_bit() {
        let rgb = DynamicImage::ImageRgb8(RgbImage::from_pixel(5, 7, Rgb([250, 5, 5])));
        for format in [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::WebP] {
            let decoded = decode_image(&encode(rgb.clone(), format), "x").unwrap();
            assert_eq!(decoded.dimensions(), (5, 7));
            assert!(decoded.get_pixel(2, 3)[0] > 200, "{format:?}");
        }
        let gray = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(4, 4, Luma([77])));
        let decoded = decode_image(&encode(gray, ImageFormat::Png), "gray").unwrap();
        assert_eq!(decoded.get_pixel(1, 1).0, [77, 77, 77]);
        let deep = DynamicImage::ImageRgb16(image::ImageBuffer::from_pixel(3, 3, Rgb([65535u16, 0, 32768])));
        let decoded = decode_image(&encode(deep, ImageFormat::Png), "deep").unwrap();
        assert_eq!(decoded.get_pixel(0, 0).0, [255, 0, 128]);
    }

    #[test]
    fn refuses_empty_garbage_truncated_and_bombs_with_the_name() {
        let err = decode_image(&[], "empty.jpg").unwrap_err().to_string();
        assert_eq!(err, "image empty.jpg: the file is empty");
        let err = decode_image(b"hello world, not an image", "notes.txt").unwrap_err().to_string();
        assert!(err.starts_with("image notes.txt: "), "{err}");

        let rgb = DynamicImage::ImageRgb8(RgbImage::from_pixel(64, 64, Rgb([1, 2, 3])));
        let jpeg = encode(rgb, ImageFormat::Jpeg);
        let err = decode_image(&jpeg[..jpeg.len() / 2], "half.jpg").unwrap_err().to_string();
        assert!(err.starts_with("image half.jpg: "), "{err}");

        // A PNG header claiming 100000x100000 pixels: refused from the header, nothing allocated.
        let bomb = png_header(100_000, 100_000);
        let err = decode_image(&bomb, "bomb.png").unwrap_err().to_string();
        assert!(err.starts_with("image bomb.png: "), "{err}");
    }

    /// A PNG signature and IHDR chunk (with a correct CRC) for an RGB image of the given size.
    fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend_from_slice(&width.to_be_bytes());
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend_from_slice(&13u32.to_be_bytes());
        png.extend_from_slice(&ihdr);
        png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
        png
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
}
