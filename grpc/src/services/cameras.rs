//! Cameras: the agency's registry (store records) and the status the pipeline reports.

use std::sync::Arc;

use custos_store::Camera;
use custos_store::records::RecordKind;
use tonic::{Request, Response, Status};

use super::{access, caller, ident, on_store};
use crate::convert;
use crate::gate::Caller;
use crate::pb;
use crate::state::Shared;

pub struct CamerasSvc {
    shared: Arc<Shared>,
}

impl CamerasSvc {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    fn configured(&self, c: &Caller) -> Vec<Camera> {
        self.shared.hub.configured_cameras(&c.agency)
    }
}

fn validate(c: pb::Camera) -> Result<Camera, Status> {
    let id = ident("id", &c.id)?;
    let url = c.url.trim();
    let rest = ["rtsp://", "rtsps://", "rtspt://"]
        .iter()
        .find_map(|s| url.strip_prefix(s))
        .ok_or_else(|| Status::invalid_argument("url must be rtsp://, rtsps:// or rtspt://"))?;
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() {
        return Err(Status::invalid_argument("url has no host"));
    }
    if authority.contains('@') {
        // Credentials belong in the appliance's secret files, not in the registry.
        return Err(Status::invalid_argument(
            "credentials in the url are refused",
        ));
    }
    Ok(Camera {
        name: if c.name.trim().is_empty() {
            id.clone()
        } else {
            c.name.trim().chars().take(200).collect()
        },
        id,
        url: url.to_owned(),
        enabled: c.enabled,
    })
}

/// Refuses a change to a camera of the config file.
fn not_configured(svc: &CamerasSvc, c: &Caller, id: &str) -> Result<(), Status> {
    if svc.configured(c).iter().any(|cam| cam.id == id) {
        return Err(Status::failed_precondition(format!(
            "camera {id} comes from the appliance's config file: change it there"
        )));
    }
    Ok(())
}

/// The record id of camera `id`, if registered.
async fn find(c: &Caller, id: &str) -> Result<Option<(u64, Camera)>, Status> {
    Ok(
        on_store(c, |store| store.list_records::<Camera>(RecordKind::Camera))
            .await?
            .into_iter()
            .find(|(_, cam)| cam.id == id),
    )
}

async fn put(c: &Caller, rec: Option<u64>, cam: &Camera) -> Result<(), Status> {
    let (who, cam) = (access(c, "camera registry"), cam.clone());
    on_store(c, move |store| {
        store.put_record(&who, RecordKind::Camera, rec, &cam)
    })
    .await?;
    Ok(())
}

#[tonic::async_trait]
impl pb::cameras_server::Cameras for CamerasSvc {
    async fn list_cameras(
        &self,
        req: Request<pb::Empty>,
    ) -> Result<Response<pb::ListCamerasResponse>, Status> {
        let c = caller(&req)?;
        let configured = self.configured(&c);
        let registered = on_store(&c, move |store| {
            store.list_records::<Camera>(RecordKind::Camera)
        })
        .await?;
        // A configured camera shadows a registered one with its id, as in the pipeline.
        let cameras: Vec<pb::Camera> = configured
            .iter()
            .map(|cam| pb::Camera {
                configured: true,
                ..convert::camera(cam.clone())
            })
            .chain(
                registered
                    .into_iter()
                    .filter(|(_, r)| !configured.iter().any(|cam| cam.id == r.id))
                    .map(|(_, cam)| convert::camera(cam)),
            )
            .collect();
        c.set_result_count(cameras.len() as u64);
        Ok(Response::new(pb::ListCamerasResponse { cameras }))
    }

    async fn add_camera(&self, req: Request<pb::Camera>) -> Result<Response<pb::Camera>, Status> {
        let c = caller(&req)?;
        let cam = validate(req.into_inner())?;
        if find(&c, &cam.id).await?.is_some() || self.configured(&c).iter().any(|k| k.id == cam.id)
        {
            return Err(Status::already_exists(format!("camera {} exists", cam.id)));
        }
        put(&c, None, &cam).await?;
        c.set_result_count(1);
        Ok(Response::new(convert::camera(cam)))
    }

    async fn update_camera(
        &self,
        req: Request<pb::Camera>,
    ) -> Result<Response<pb::Camera>, Status> {
        let c = caller(&req)?;
        let cam = validate(req.into_inner())?;
        not_configured(self, &c, &cam.id)?;
        let (rec, _) = find(&c, &cam.id)
            .await?
            .ok_or_else(|| Status::not_found(format!("no camera {}", cam.id)))?;
        put(&c, Some(rec), &cam).await?;
        c.set_result_count(1);
        Ok(Response::new(convert::camera(cam)))
    }

    async fn remove_camera(
        &self,
        req: Request<pb::CameraId>,
    ) -> Result<Response<pb::Empty>, Status> {
        let c = caller(&req)?;
        let id = req.into_inner().id;
        not_configured(self, &c, &id)?;
        let (rec, _) = find(&c, &id)
            .await?
            .ok_or_else(|| Status::not_found(format!("no camera {id}")))?;
        let who = access(&c, "camera registry");
        on_store(&c, move |store| {
            store.delete_record(&who, RecordKind::Camera, rec)
        })
        .await?;
        c.set_result_count(1);
        Ok(Response::new(pb::Empty {}))
    }

    async fn camera_status(
        &self,
        req: Request<pb::CameraId>,
    ) -> Result<Response<pb::CameraStatusResponse>, Status> {
        let c = caller(&req)?;
        let id = req.into_inner().id;
        let configured = self.configured(&c).into_iter().find(|cam| cam.id == id);
        let cam = match configured {
            Some(cam) => cam,
            None => {
                find(&c, &id)
                    .await?
                    .ok_or_else(|| Status::not_found(format!("no camera {id}")))?
                    .1
            }
        };
        let status = self.shared.hub.camera_status(&c.agency, &id);
        let (state, detail, at) = match status {
            _ if !cam.enabled => ("disabled".to_owned(), String::new(), 0),
            Some(s) => (s.state, s.detail, s.updated_at_ms),
            None => (
                "unknown".to_owned(),
                "no pipeline reports this camera".to_owned(),
                0,
            ),
        };
        c.set_result_count(1);
        Ok(Response::new(pb::CameraStatusResponse {
            id,
            state,
            detail,
            updated_at_ms: at,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_urls() {
        let cam = |url: &str| pb::Camera {
            id: "gate-1".into(),
            name: String::new(),
            url: url.into(),
            enabled: true,
            configured: false,
        };
        assert!(validate(cam("rtsp://10.0.0.5:554/s")).is_ok());
        assert_eq!(validate(cam("rtsp://10.0.0.5/s")).unwrap().name, "gate-1");
        assert!(validate(cam("rtsp://admin:pw@10.0.0.5/s")).is_err());
        assert!(validate(cam("http://10.0.0.5/s")).is_err());
        assert!(validate(cam("rtsp:///s")).is_err());
    }
}
