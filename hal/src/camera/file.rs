//! A camera that replays image files from a folder, round-robin: for technicians who
//! want to run the station against photos of real labels.

use std::path::{Path, PathBuf};

use image::GrayImage;

use super::image_file::{FORMATS, ImageLimits, has_image_extension, load_image};
use crate::device::{BoxFuture, Camera, DeviceError, ErrorKind};

/// Replays the image files of a folder in name order, then starts again.
pub struct FileCamera {
    name: String,
    files: Vec<PathBuf>,
    next: usize,
}

impl FileCamera {
    /// Lists the folder's image files (PNG, JPEG, WebP, BMP, TIFF, GIF, PNM). An unreadable
    /// folder or one without images is a config error.
    pub fn open(dir: &Path) -> Result<FileCamera, DeviceError> {
        let name = format!("camera (files in {})", dir.display());
        let entries = std::fs::read_dir(dir).map_err(|e| {
            DeviceError::new(
                &name,
                ErrorKind::Config,
                format!("cannot list the folder: {e}; check camera.dir in the config"),
            )
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| has_image_extension(p))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(DeviceError::new(
                &name,
                ErrorKind::Config,
                format!("the folder holds no image files ({FORMATS}); put label photos there"),
            ));
        }
        Ok(FileCamera {
            name,
            files,
            next: 0,
        })
    }

    /// The file the next capture will read.
    pub fn peek(&self) -> &Path {
        &self.files[self.next % self.files.len()]
    }

    /// The next file to read, advancing the round.
    fn next_path(&mut self) -> PathBuf {
        let path = self.files[self.next % self.files.len()].clone();
        self.next = (self.next + 1) % self.files.len();
        path
    }

    /// The next frame, synchronously.
    pub fn read_next(&mut self) -> Result<GrayImage, DeviceError> {
        let path = self.next_path();
        load(&self.name, &path)
    }
}

fn load(name: &str, path: &Path) -> Result<GrayImage, DeviceError> {
    load_image(path, &ImageLimits::default()).map_err(|e| {
        DeviceError::new(
            name,
            ErrorKind::Malformed,
            format!("{e}; replace or remove it"),
        )
    })
}

impl Camera for FileCamera {
    fn name(&self) -> &str {
        &self.name
    }

    fn capture(&mut self) -> BoxFuture<'_, Result<GrayImage, DeviceError>> {
        // Decoding a 1080p PNG takes tens of milliseconds: off the async threads.
        let path = self.next_path();
        let name = self.name.clone();
        Box::pin(async move {
            let n = name.clone();
            tokio::task::spawn_blocking(move || load(&n, &path))
                .await
                .map_err(|e| {
                    DeviceError::new(
                        name,
                        ErrorKind::Disconnected,
                        format!("image loading stopped: {e}; restart the daemon"),
                    )
                })?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replays_images_in_name_order_and_reports_bad_ones() {
        let dir = std::env::temp_dir().join(format!("intake-filecam-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        GrayImage::from_pixel(4, 3, image::Luma([10]))
            .save(dir.join("b.png"))
            .unwrap();
        GrayImage::from_pixel(2, 2, image::Luma([200]))
            .save(dir.join("a.png"))
            .unwrap();
        std::fs::write(dir.join("c.jpg"), b"not a jpeg").unwrap();
        std::fs::write(dir.join("notes.txt"), b"ignored").unwrap();
        let mut cam = FileCamera::open(&dir).unwrap();
        assert_eq!(cam.capture().await.unwrap().dimensions(), (2, 2));
        assert_eq!(cam.capture().await.unwrap().dimensions(), (4, 3));
        let e = cam.capture().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Malformed);
        assert_eq!(cam.capture().await.unwrap().dimensions(), (2, 2));
        std::fs::remove_dir_all(&dir).unwrap();
        let empty =
            std::env::temp_dir().join(format!("intake-filecam-empty-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        assert_eq!(
            FileCamera::open(&empty).err().map(|e| e.kind()),
            Some(ErrorKind::Config)
        );
        std::fs::remove_dir_all(&empty).unwrap();
    }
}
