DROP TABLE operator_rejections;
