//! What one batch's transaction has already looked up, so a batch of 5,000 events of one
//! directory reads the directory once.

use std::collections::HashMap;

use diesel::PgConnection;
use diesel::result::QueryResult;
use roster_store::control::{self, Directory};
use uuid::Uuid;

/// What one batch's transaction has already looked up.
#[derive(Debug, Default)]
pub struct BatchCache {
    directories: HashMap<Uuid, Option<Directory>>,
    /// Users erased by the batch (`(directory, user)`) and directories it deleted: the batch's
    /// transaction then forgets their personal data in the outcomes, the batch's own included.
    pub(crate) erased: Vec<(Uuid, Uuid)>,
    pub(crate) deleted_directories: Vec<Uuid>,
}

impl BatchCache {
    pub(crate) fn directory(
        &mut self,
        conn: &mut PgConnection,
        id: Uuid,
    ) -> QueryResult<Option<Directory>> {
        if let Some(directory) = self.directories.get(&id) {
            return Ok(directory.clone());
        }
        let directory = control::find_directory(conn, id)?;
        self.directories.insert(id, directory.clone());
        Ok(directory)
    }

    /// Forget what was looked up of a directory that a change just altered.
    pub(crate) fn invalidate(&mut self, id: Uuid) {
        self.directories.remove(&id);
    }
}
