app_name = "connect"
urlpatterns = []
